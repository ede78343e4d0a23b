// Benchmark: a viewer's first media connection on a network that drops
// part of it for its first seconds, in a link lab (scripts/netlab.sh;
// needs root), the SDK's defaults. A presenter outside the lab is on
// stage; the viewer inside joins with
//   - dtls N: its link dropping DTLS (UDP payloads 20-63, RFC 7983) both
//     ways for N s from the first one dropped; ICE's checks pass;
//   - dark N: its link dropping all UDP both ways for N s from its join
//     (the WebSocket passes);
// and the figure is the time from the end of the drop to the first frame
// of the presenter's video the viewer shows. And
//   - pubdtls N: the presenter inside the lab, outside a host; its link
//     dropping DTLS for N s from the first one dropped as it goes on
//     stage; the figure is the host's first frame of it after the drop.
//
//   node bench/browser-media/firstconnect.mjs   (CASES=dtls3,dtls10,dtls13,dark3,dark10,pubdtls3,pubdtls10 BENCH_FIRSTCONNECT_RUNS=1)
//
// Needs `make build` first (bin/stageserver and web/sdk).
import { createMeeting } from "../../e2e/lib.mjs";
import { openJoined, labBench } from "./lib.mjs";

const bench = await labBench("first-connection");
if (!bench) process.exit(0);
const { lab, server, outside, inside } = bench;
const cases = (process.env.CASES || "dtls3,dtls10,dtls13,dark3,dark10,pubdtls3,pubdtls10").split(",").map((c) => {
  const [, kind, secs] = /^(dtls|dark|pubdtls)(\d+(?:\.\d+)?)$/.exec(c) ?? [];
  if (!kind) throw new Error(`bad case ${c}`);
  return { name: c, kind, secs: Number(secs) };
});
const runs = Number(process.env.BENCH_FIRSTCONNECT_RUNS || 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  for (const c of cases) {
    const figures = [];
    for (let i = 0; i < runs; i++) {
      const pub = c.kind === "pubdtls";
      const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: pub ? "webinar_host" : "webinar_viewer" });
      const onStage = (page) => page.evaluate(async () => { await meeting.self.enableVideo(); await meeting.stage.join(); });
      const host = await openJoined(outside, server.url, people.Host);
      const presenter = pub ? await openJoined(inside, server.url, people.Viewer) : host;
      if (!pub) await onStage(host);
      const drop = (on) => (c.kind === "dark" ? lab.loss("both", on ? 100 : 0) : lab.dtlshole(on));
      drop(true);
      let viewer, lift;
      try {
        const joining = pub ? onStage(presenter).then(() => host) : openJoined(inside, server.url, people.Viewer);
        let from = Date.now();
        if (c.kind !== "dark") {
          for (from = 0; !from; await sleep(20)) if (lab.dtlsdrops() > 0) from = Date.now();
        }
        await sleep(Math.max(0, from + c.secs * 1000 - Date.now()));
        drop(false);
        lift = Date.now();
        viewer = await joining;
      } finally {
        drop(false);
      }
      // The first frame of whichever track the viewer holds (a new
      // connection brings a new one).
      const shown = await viewer.waitForFunction((u) => {
        const t = byUser(u)?.videoTrack;
        if (t && window.watched !== t) {
          window.watched = t;
          const v = document.createElement("video");
          v.muted = v.autoplay = true;
          v.srcObject = new MediaStream([t]);
          document.body.append(v);
          v.play().catch(() => {});
          const each = () => {
            if (t.readyState === "live" && v.getVideoPlaybackQuality().totalVideoFrames > 0) window.firstFrame ??= clock();
            else v.requestVideoFrameCallback(each);
          };
          v.requestVideoFrameCallback(each);
        }
        return window.firstFrame ?? null;
      }, (pub ? people.Viewer : people.Host).id, { timeout: 90000, polling: 20 }).then((h) => h.jsonValue());
      figures.push(Math.round(shown - lift));
      for (const page of new Set([viewer, host, presenter])) await page.context().close();
    }
    const what = { dtls: `DTLS dropped ${c.secs} s`, dark: `UDP dark ${c.secs} s from the join`, pubdtls: `presenter's DTLS dropped ${c.secs} s` }[c.kind];
    console.log(`${what} → first frame after the drop ends: ${figures.map((f) => `${f} ms`).join(", ")}`);
  }
} finally {
  await bench.close();
}
