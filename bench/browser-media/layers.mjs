// Benchmark: what Chromium sends on each simulcast layer of a camera of a
// given size, with the SDK's defaults. A presenter alone on stage (no
// viewer, so no layer is paused) publishes a fake camera of each size
// (getUserMedia with that size, enableVideo(track)); after WARM seconds
// the bytes sent per rid over SECS seconds give each layer's rate, beside
// its frame width and the encoder's target (outbound-rtp targetBitrate).
// Chromium's fake camera is easy to encode and sends less than the target;
// NOISE=1 feeds it a clip of random pixels instead (a y4m file written to
// .cache/), which takes every bit the encoder is allowed: what a detailed
// camera picture approaches.
//
//   node bench/browser-media/layers.mjs   (SIZES=640x360,1280x720 WARM=10 SECS=10 NOISE=)
//
// Needs `make build` first (bin/stageserver and web/sdk).
import { mkdirSync, openSync, writeSync, closeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { join } from "node:path";
import { root, startServer, createMeeting, launch, recordPeerConnections } from "../../e2e/lib.mjs";
import { openJoined } from "./lib.mjs";

const sizes = (process.env.SIZES || "640x360,1280x720").split(",").map((s) => s.split("x").map(Number));
const warm = Number(process.env.WARM || 10);
const secs = Number(process.env.SECS || 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// noiseClip writes 15 frames of random pixels, w×h, as a y4m file.
function noiseClip(w, h) {
  mkdirSync(join(root, ".cache"), { recursive: true });
  const path = join(root, `.cache/noise-${w}x${h}.y4m`);
  const fd = openSync(path, "w");
  writeSync(fd, `YUV4MPEG2 W${w} H${h} F30:1 Ip A1:1 C420jpeg\n`);
  const frame = Buffer.alloc((w * h * 3) / 2);
  for (let i = 0; i < 15; i++) {
    writeSync(fd, "FRAME\n");
    writeSync(fd, randomFillSync(frame));
  }
  closeSync(fd);
  return path;
}

const server = await startServer();
try {
  for (const [w, h] of sizes) {
    const browser = await launch(process.env.NOISE ? [`--use-file-for-fake-video-capture=${noiseClip(w, h)}`] : []);
    const { people } = await createMeeting(server.url, { Host: "webinar_host" });
    const page = await openJoined(browser, server.url, people.Host, recordPeerConnections);
    await page.evaluate(async ([w, h]) => {
      const [track] = (await navigator.mediaDevices.getUserMedia({ video: { width: { exact: w }, height: { exact: h } } })).getVideoTracks();
      await meeting.self.enableVideo(track);
      await meeting.stage.join();
      window.byRID = async () => {
        const out = {};
        for (const pc of pcs) {
          (await pc.getStats()).forEach((r) => {
            if (r.type === "outbound-rtp" && r.kind === "video" && r.rid) {
              out[r.rid] = { bytes: r.bytesSent, at: r.timestamp, width: r.frameWidth ?? 0, target: r.targetBitrate ?? 0,
                fps: r.framesPerSecond ?? 0, limit: r.qualityLimitationReason };
            }
          });
          for (const s of pc.getSenders()) {
            if (s.track?.kind !== "video") continue;
            for (const e of s.getParameters().encodings) {
              if (out[e.rid]) Object.assign(out[e.rid], { active: e.active, max: e.maxBitrate, scale: e.scaleResolutionDownBy });
            }
          }
        }
        return out;
      };
    }, [w, h]);
    await sleep(warm * 1000);
    const a = await page.evaluate(() => byRID());
    await sleep(secs * 1000);
    const b = await page.evaluate(() => byRID());
    const layers = Object.keys(b).sort().map((rid) => {
      const r = b[rid];
      const kbps = ((r.bytes - (a[rid]?.bytes ?? 0)) * 8) / (r.at - (a[rid]?.at ?? r.at)) || 0;
      return `${rid}: ${r.active ? "on " : "off"} scale ${r.scale} max ${(r.max ?? 0) / 1000} kbit/s → ${r.width} wide, ${kbps.toFixed(0)} kbit/s sent (target ${(r.target / 1000).toFixed(0)}), ${r.fps} fps, limit ${r.limit}`;
    });
    console.log(`camera ${w}×${h}${process.env.NOISE ? " (noise)" : ""}, over ${secs} s after ${warm} s:\n  ${layers.join("\n  ")}`);
    await page.evaluate(() => meeting.leave());
    await browser.close();
  }
} finally {
  await server.stop();
}
