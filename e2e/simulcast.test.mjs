// Simulcast from the browser, in real pages against the real server: a
// presenter's camera goes out as three layers (quarter, half and full
// resolution) unless its preset's media.video.simulcast is false, and a
// viewer on an unlimited link decodes the full one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, createMeeting, rest, launch, openJoined, recordPeerConnections } from "./lib.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const T = { timeout: 15000 };

// Bytes sent per simulcast layer (rid) so far, in the page.
function recordSentByRID() {
  window.sentByRID = async () => {
    const out = {};
    for (const pc of pcs) {
      (await pc.getStats()).forEach((r) => {
        if (r.type === "outbound-rtp" && r.kind === "video" && r.rid) out[r.rid] = r.bytesSent;
      });
    }
    return out;
  };
}

const join = (person) => openJoined(browser, server.url, person, recordPeerConnections, recordSentByRID);

// The presenter turns its camera and microphone on and goes on stage.
async function present(page) {
  await page.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.self.enableAudio();
    await meeting.stage.join();
  });
  await page.waitForFunction(() => meeting.stage.status === "ON_STAGE", null, T);
  return page.evaluate(() => meeting.self.videoTrack.getSettings().width);
}

// Resolves with the width of the presenter's video once the viewer decodes
// it at that width (any width if width is 0).
async function decodedWidth(page, userId, width) {
  const video = await page.waitForFunction((u) => {
    const t = byUser(u)?.videoTrack;
    if (!t) return null;
    const v = document.createElement("video");
    v.muted = v.autoplay = v.playsInline = true;
    v.srcObject = new MediaStream([t]);
    document.body.append(v);
    v.play().catch(() => {});
    return v;
  }, userId, T);
  // The full layer comes once the viewer's estimate has grown to it, which
  // takes seconds (make bench-adapt measures how many): this waits, it does
  // not time it.
  await page.waitForFunction(([v, w]) => v.videoWidth > 0 && (!w || v.videoWidth === w) && v.getVideoPlaybackQuality().totalVideoFrames > 10, [video, width], { timeout: 60000 });
  return page.evaluate((v) => v.videoWidth, video);
}

// The server's forwarded tracks (each simulcast layer counts), from /metrics.
async function tracks() {
  const text = await (await fetch(server.url + "/metrics")).text();
  return Number(/^stagekit_media_tracks (\d+)$/m.exec(text)?.[1]);
}

async function waitTracks(n) {
  const until = Date.now() + T.timeout;
  let got;
  while ((got = await tracks()) !== n && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  return got;
}

test("a presenter's camera is three layers; a viewer on a free link decodes the full one", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await join(people.Host);
  const viewer = await join(people.Viewer);
  const width = await present(host);
  // Audio and three video layers (Chromium may leave the lowest out for a
  // while when its CPU is short).
  assert.ok(await waitTracks(4) >= 3, "audio and the video layers forwarded");
  assert.equal(await decodedWidth(viewer, people.Host.id, width), width);
  // Nobody watches q and h: the presenter stops sending them; f goes on.
  const sending = async () => {
    const a = await host.evaluate(() => sentByRID());
    await new Promise((r) => setTimeout(r, 1000));
    const b = await host.evaluate(() => sentByRID());
    return Object.keys(b).sort().filter((rid) => b[rid] > (a[rid] ?? 0)).join(",");
  };
  const until = Date.now() + T.timeout;
  let layers;
  while ((layers = await sending()) !== "f" && Date.now() < until);
  assert.equal(layers, "f", "the layers the presenter sends");
  await host.evaluate(() => meeting.leave());
  assert.equal(await waitTracks(0), 0);
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});

test("media.video.simulcast false: one layer", async () => {
  await rest(server.url, "POST", "/v1/presets", {
    name: "single_layer_host", config: { view_type: "WEBINAR" },
    permissions: { stage_enabled: true, stage_access: "ALLOWED", accept_stage_requests: true, media: { video: { simulcast: false } } },
  });
  const { people } = await createMeeting(server.url, { Host: "single_layer_host", Viewer: "webinar_viewer" });
  const host = await join(people.Host);
  const viewer = await join(people.Viewer);
  const before = await tracks();
  await present(host);
  assert.equal(await waitTracks(before + 2), before + 2);
  // One layer: the sender's own adaptation (not a layer) decides its size.
  assert.ok(await decodedWidth(viewer, people.Host.id, 0) > 0);
  assert.deepEqual(await host.evaluate(() => sentByRID()), {}, "no simulcast layers");
  await host.evaluate(() => meeting.leave());
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});
