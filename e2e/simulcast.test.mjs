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

// Bytes sent per simulcast layer (rid) so far, in the page; and the
// layers being sent now (bytes grew over a second), each with its width.
function recordSentByRID() {
  const stats = async () => {
    const out = {};
    for (const pc of pcs) {
      (await pc.getStats()).forEach((r) => {
        if (r.type === "outbound-rtp" && r.kind === "video" && r.rid) out[r.rid] = { bytes: r.bytesSent, width: r.frameWidth ?? 0 };
      });
    }
    return out;
  };
  window.sentByRID = async () => Object.fromEntries(Object.entries(await stats()).map(([rid, s]) => [rid, s.bytes]));
  window.sendingNow = async () => {
    const a = await stats();
    await new Promise((r) => setTimeout(r, 1000));
    const b = await stats();
    return Object.keys(b).sort().filter((rid) => b[rid].bytes > (a[rid]?.bytes ?? 0)).map((rid) => `${rid} ${b[rid].width}`).join(", ");
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
  assert.equal(await sendsOnly(host, "f", width), `f ${width}`, "the layers the presenter sends");
  // Nobody watches f either once its viewer leaves: the time until the
  // presenter's SDK sets f inactive is the figure of issue 18's target
  // (≤ 2 s; printed, make bench-adapt; the bound here is T's). Its
  // encoder's last frames are not a measure: a loaded machine's encoder
  // skips frames for a second at times.
  const left = await viewer.evaluate(async () => {
    const at = clock();
    await meeting.leave();
    return at;
  });
  const pausedAt = await host.evaluate(async (timeout) => {
    const active = () => {
      for (const pc of pcs) {
        for (const s of pc.getSenders()) {
          const e = s.track?.kind === "video" && s.getParameters().encodings.find((e) => e.rid === "f");
          if (e) return e.active;
        }
      }
      return null;
    };
    const start = clock();
    while (active() !== false && clock() - start < timeout) await new Promise((r) => setTimeout(r, 20));
    return active() === false ? clock() : null;
  }, T.timeout);
  assert.ok(pausedAt !== null, "the presenter stops f once nobody watches it");
  assert.equal(await sendsOnly(host, "", 0), "", "nothing is sent with nobody watching");
  console.log(`# simulcast figures: the full layer set inactive ${((pausedAt - left) / 1000).toFixed(2)} s after its only viewer called leave()`);
  await host.evaluate(() => meeting.leave());
  assert.equal(await waitTracks(0), 0);
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});

// A presenter alone on stage: each layer it starts above the lowest is
// paused at its presenter within 2 s (issue 18's target; the server
// pauses a layer nobody watched 1 s after it arrives; the lowest goes on,
// so that the presenter's browser grows its estimate of its uplink), and
// its first viewer gets it and climbs to the full layer on a free link (a
// layer paused before its rate was measured is taken for what the SDK's
// table says it costs, not for the little it sent as it started). The
// times are printed (make bench-adapt); the bounds here are T's.
test("a presenter alone stops each layer it starts but the lowest; its first viewer decodes the full one", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await join(people.Host);
  // Page side: when each layer was first seen sent (bytes grew) and
  // when its encoding was set inactive after that.
  await host.evaluate(() => {
    window.layerTimes = { sent: {}, inactive: {} };
    setInterval(async () => {
      const now = clock();
      for (const pc of pcs) {
        (await pc.getStats()).forEach((r) => {
          if (r.type === "outbound-rtp" && r.kind === "video" && r.rid && r.bytesSent > 0) layerTimes.sent[r.rid] ??= now;
        });
        for (const sd of pc.getSenders()) {
          if (sd.track?.kind !== "video") continue;
          for (const e of sd.getParameters().encodings) {
            if (e.rid && layerTimes.sent[e.rid] && !e.active) layerTimes.inactive[e.rid] ??= now;
          }
        }
      }
    }, 20);
  });
  const width = await present(host);
  // Checked after the viewer's figures, so that a server that does not
  // pause them (main before this test) is measured too.
  const allStopped = await host.waitForFunction(() => {
    const { sent, inactive } = layerTimes;
    const rids = Object.keys(sent).filter((r) => r !== "q");
    return rids.length > 0 && rids.every((r) => inactive[r]);
  }, null, T).then(() => true, () => false);
  const times = await host.evaluate(() => layerTimes);
  const stopped = Object.keys(times.sent).sort().map((r) => `${r} ${times.inactive[r] ? ((times.inactive[r] - times.sent[r]) / 1000).toFixed(2) + " s" : "never"}`);
  const sendingAlone = await sendsOnly(host, "q", width / 4);

  const joinAt = Date.now();
  const viewer = await join(people.Viewer);
  await decodedWidth(viewer, people.Host.id, 0);
  const firstAt = Date.now();
  assert.equal(await decodedWidth(viewer, people.Host.id, width), width);
  const fullAt = Date.now();
  console.log(`# simulcast figures: a presenter alone: each layer set inactive after it was first sent: ${stopped.join(", ")} (sent alone: ${sendingAlone || "nothing"}); ` +
    `its first viewer: 10 frames ${((firstAt - joinAt) / 1000).toFixed(2)} s after it opened its page, the full layer ${((fullAt - joinAt) / 1000).toFixed(2)} s after`);
  assert.ok(allStopped, `every layer it sent above q set inactive: ${stopped.join(", ")}`);
  assert.equal(sendingAlone, `q ${width / 4}`, "the lowest layer only is sent with nobody watching");
  await host.evaluate(() => meeting.leave());
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});

// Waits until the presenter sends the one layer rid at width (nothing: ""),
// and returns what it sends (rid and width of each layer).
async function sendsOnly(page, rid, width) {
  const want = rid ? `${rid} ${width}` : "";
  const until = Date.now() + T.timeout;
  let layers;
  while ((layers = await page.evaluate(() => sendingNow())) !== want && Date.now() < until);
  return layers;
}

// A camera whose size changes on the same track (the page's own
// applyConstraints here, or a device that changes its resolution) gets its
// layers fitted to the new size, with no "layers" message from the server
// to prompt it. Chromium sends a 640×360 track's encodings up to the
// larger of two and the lowest active one: left as made for 720p, f went
// on here only because q and h were paused; with either watched it stops,
// and its viewers are moved down until a pause change refits the layers.
// Fitted, the half layer's encoding carries the full 640×360 and f stops
// (before the fix: "f 640" here).
test("a camera resized on its track gets the layers of its new size; the viewer decodes the full new size", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await join(people.Host);
  const viewer = await join(people.Viewer);
  const width = await present(host);
  assert.equal(await decodedWidth(viewer, people.Host.id, width), width);
  assert.equal(await sendsOnly(host, "f", width), `f ${width}`, "before: the full layer only (nobody watches q and h)");

  const resize = (w, h) => host.evaluate(async ([w, h]) => {
    await meeting.self.videoTrack.applyConstraints({ width: w, height: h });
    return meeting.self.videoTrack.getSettings().width;
  }, [w, h]);
  assert.equal(await resize(640, 360), 640);
  assert.equal(await sendsOnly(host, "h", 640), "h 640", "640×360: the half layer's encoding carries the full size, f stops");
  // At the rates of their sizes: 320×180 at q's, 640×360 at h's (they were
  // h's and f's, and Chromium sent the 320×180 layer at up to 375 kbit/s).
  assert.equal(await host.evaluate(() => pcs.flatMap((pc) => pc.getSenders()).filter((s) => s.track?.kind === "video")
    .flatMap((s) => s.getParameters().encodings).map((e) => `${e.rid} /${e.scaleResolutionDownBy} ${e.maxBitrate / 1000}k`).join(", ")),
  "q /2 150k, h /1 500k, f /1 1500k", "640×360: the encodings' scales and rates");
  assert.equal(await decodedWidth(viewer, people.Host.id, 640), 640);

  // Back to 720p: three layers again, and the viewer climbs to the top one.
  assert.equal(await resize(1280, 720), 1280);
  assert.equal(await decodedWidth(viewer, people.Host.id, 1280), 1280);
  assert.equal(await sendsOnly(host, "f", 1280), "f 1280", "720p again: the full layer only");
  await host.evaluate(() => meeting.leave());
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
