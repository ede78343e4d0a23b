// Media on stage, in real pages against the real server (its SFU) in Debian's
// Chromium with a fake camera and microphone: a viewer's camera reaches the
// host's page and is decoded there; kicks, leaves, disabling and reconnects
// stop or restore it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, createMeeting, launch, openPage, mediaHelpers } from "./lib.mjs";

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

// Opens a page, loads the SDK, joins the room and installs helpers:
// window.events records self and participant media events; watch(track)
// plays a track in a <video>; frames(video) counts its decoded frames.
async function joinAs(person) {
  const page = await openPage(browser, server.url);
  page.warnings = [];
  page.on("console", (msg) => {
    if (msg.type() === "warning" && msg.text().startsWith("stagekit:")) page.warnings.push(msg.text());
  });
  await page.evaluate(async (authToken) => {
    // Keep the page's WebSockets reachable so that a test can drop one.
    const Native = WebSocket;
    window.sockets = [];
    // Who sends each hello: the loader (stagekit.js) or the Go side (wasm_exec.js).
    window.hellos = [];
    const send = Native.prototype.send;
    Native.prototype.send = function (data) {
      if (typeof data === "string" && data.includes('"type":"hello"')) {
        window.hellos.push(/stagekit\.js/.test(new Error().stack) ? "loader" : "go");
      }
      return send.call(this, data);
    };
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.sockets.push(this);
      }
    };
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    window.initSockets = window.sockets.map((ws) => ws.readyState);
    window.meeting = meeting;
    window.events = [];
    const record = (on, name) => (...args) => {
      const upd = args[args.length - 1];
      const kind = name === "videoUpdate" ? "video" : "audio";
      window.events.push({
        on, name,
        who: args.length > 1 ? args[0].userId : null,
        enabled: upd[kind + "Enabled"],
        track: upd[kind + "Track"] ? upd[kind + "Track"].kind : null,
      });
    };
    for (const name of ["audioUpdate", "videoUpdate"]) {
      meeting.self.on(name, record("self", name));
      meeting.participants.joined.on(name, record("joined", name));
    }
  }, person.token);
  await page.evaluate(mediaHelpers);
  // The loader opens the WebSocket while the wasm loads; the client takes
  // it over rather than dialing a second one...
  assert.deepEqual(await page.evaluate(() => initSockets), [WebSocketOpen], "init used one WebSocket, the loader's early one");
  // ...and the loader said hello on it while the wasm loaded: the Go side sent none.
  assert.deepEqual(await page.evaluate(() => hellos), ["loader"], "one hello, the loader's");
  return page;
}

const WebSocketOpen = 1;

// Resolves once a <video> playing the participant's current videoTrack has
// decoded frames; returns that video's handle.
async function decodes(page, userId) {
  // Watched as soon as it is there, in one step: a track can end between two.
  const video = await page.waitForFunction((u) => {
    const t = byUser(u)?.videoTrack;
    return t ? watch(t) : null;
  }, userId, T);
  await page.waitForFunction((v) => v.videoWidth > 0 && frames(v) > 3, video, T);
  // ... and keeps decoding.
  const n = await page.evaluate((v) => frames(v), video);
  await page.waitForFunction(([v, n]) => frames(v) > n + 3, [video, n], T);
  return video;
}

// Resolves once the video's decoded frame count stopped growing (two
// samples half a second apart are equal); fails if it keeps growing.
async function stopsDecoding(page, video) {
  await page.waitForFunction((v) => {
    const n = frames(v);
    const last = v.lastCount;
    v.lastCount = n;
    return last === n;
  }, video, { timeout: 10000, polling: 500 });
}

async function grantAndJoin(host, viewer, viewerId) {
  await viewer.evaluate(() => meeting.stage.requestAccess());
  await host.waitForFunction((u) => byUser(u)?.stageStatus === "REQUESTED_TO_JOIN_STAGE", viewerId, T);
  await host.evaluate((u) => meeting.stage.grantAccess([u]), viewerId);
  await viewer.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE", null, T);
  await viewer.evaluate(() => meeting.stage.join());
}

// No uncaught errors, no console.error, and no media warning from the SDK.
const noErrors = (...pages) => {
  for (const p of pages) {
    assert.deepEqual(p.errors.map(String), []);
    assert.deepEqual(p.warnings, []);
  }
};

test("a viewer's camera reaches the host and stops when the host kicks", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(people.Host);
  const viewer = await joinAs(people.Viewer);
  const viewerId = people.Viewer.id;

  // The viewer turns its camera and microphone on before asking (a preview).
  const local = await viewer.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.self.enableAudio();
    window.camera = meeting.self.videoTrack;
    window.mic = meeting.self.audioTrack;
    return {
      videoEnabled: meeting.self.videoEnabled, audioEnabled: meeting.self.audioEnabled,
      camera: camera.readyState, mic: mic.readyState, events: events.splice(0),
    };
  });
  assert.deepEqual(local, {
    videoEnabled: true, audioEnabled: true, camera: "live", mic: "live",
    events: [
      { on: "self", name: "videoUpdate", who: null, enabled: true, track: "video" },
      { on: "self", name: "audioUpdate", who: null, enabled: true, track: "audio" },
    ],
  });
  // Nothing is published while OFF_STAGE.
  assert.equal(await host.evaluate((u) => byUser(u).videoTrack, viewerId), null);

  // The participant object emits too.
  await host.evaluate((u) => {
    window.own = [];
    byUser(u).on("videoUpdate", (upd) => own.push(upd.videoEnabled && upd.videoTrack === byUser(u).videoTrack));
  }, viewerId);
  await grantAndJoin(host, viewer, viewerId);
  assert.equal(await viewer.evaluate(() => meeting.stage.status), "ON_STAGE");

  // The host gets the viewer's tracks on the participant object, with events, and decodes the video.
  const video = await decodes(host, viewerId);
  const seen = await host.evaluate((u) => ({
    p: { videoEnabled: byUser(u).videoEnabled, audioEnabled: byUser(u).audioEnabled, audio: byUser(u).audioTrack?.kind },
    events: events.filter((e) => e.on === "joined").map((e) => `${e.name} ${e.who} ${e.enabled} ${e.track}`).sort(),
  }), viewerId);
  assert.deepEqual(seen, {
    p: { videoEnabled: true, audioEnabled: true, audio: "audio" },
    events: [`audioUpdate ${viewerId} true audio`, `videoUpdate ${viewerId} true video`],
  });

  // The host kicks: the host loses the tracks and stops decoding; the viewer's devices are released.
  await host.evaluate(() => { events.length = 0; });
  await host.evaluate((u) => meeting.stage.kick([u]), viewerId);
  await host.waitForFunction((u) => byUser(u).videoTrack === null && byUser(u).audioTrack === null, viewerId, T);
  assert.deepEqual(await host.evaluate((u) => ({
    videoEnabled: byUser(u).videoEnabled, audioEnabled: byUser(u).audioEnabled,
    events: events.map((e) => `${e.name} ${e.who} ${e.enabled} ${e.track}`).sort(),
  }), viewerId), {
    videoEnabled: false, audioEnabled: false,
    events: [`audioUpdate ${viewerId} false null`, `videoUpdate ${viewerId} false null`],
  });
  await stopsDecoding(host, video);
  assert.deepEqual(await host.evaluate(() => own), [true, false], "the participant's own videoUpdate events");

  await viewer.waitForFunction(() => meeting.self.videoTrack === null && meeting.self.audioTrack === null, null, T);
  assert.deepEqual(await viewer.evaluate(() => ({
    status: meeting.stage.status,
    camera: camera.readyState, mic: mic.readyState,
    videoEnabled: meeting.self.videoEnabled, audioEnabled: meeting.self.audioEnabled,
    events: events.filter((e) => e.on === "self").map((e) => `${e.name} ${e.enabled} ${e.track}`).sort(),
  })), {
    status: "OFF_STAGE", camera: "ended", mic: "ended", videoEnabled: false, audioEnabled: false,
    events: ["audioUpdate false null", "videoUpdate false null"],
  });
  noErrors(host, viewer);
});

test("a host on stage turns its camera on, off and on again, then leaves", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(people.Host);
  const viewer = await joinAs(people.Viewer);
  const hostId = people.Host.id;

  // On stage with nothing enabled: join resolves, nothing is published.
  await host.evaluate(() => meeting.stage.join());
  assert.equal(await host.evaluate(() => meeting.stage.status), "ON_STAGE");

  // Enabling on stage publishes (renegotiation of the publish connection).
  await host.evaluate(() => meeting.self.enableVideo());
  const first = await decodes(viewer, hostId);

  // Disabling stops it at the viewer: the track is removed, not frozen.
  const camera = await host.evaluateHandle(() => meeting.self.videoTrack);
  await host.evaluate(() => meeting.self.disableVideo());
  assert.equal(await host.evaluate((t) => t.readyState, camera), "ended", "the SDK's camera is stopped");
  await viewer.waitForFunction((u) => byUser(u).videoTrack === null && !byUser(u).videoEnabled, hostId, T);
  await stopsDecoding(viewer, first);

  // Again: the same transceiver is reused.
  await host.evaluate(() => meeting.self.enableVideo());
  await decodes(viewer, hostId);

  // A track the page made itself is used as is, and not stopped by the SDK.
  const swapped = await host.evaluate(async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 240;
    const g = canvas.getContext("2d");
    let hue = 0;
    window.paint = setInterval(() => { g.fillStyle = `hsl(${hue++ % 360} 80% 50%)`; g.fillRect(0, 0, 320, 240); }, 33);
    window.pageTrack = canvas.captureStream(30).getVideoTracks()[0];
    const sdkTrack = meeting.self.videoTrack;
    await meeting.self.enableVideo(pageTrack);
    return { same: meeting.self.videoTrack === pageTrack, sdkTrack: sdkTrack.readyState };
  });
  assert.deepEqual(swapped, { same: true, sdkTrack: "ended" });
  const canvasVideo = await decodes(viewer, hostId);
  // The camera's sender has simulcast layers: the viewer may start on a
  // lower one and move up (how fast is make bench-adapt's figure; on a
  // loaded machine it took over 15 s, so this waits as simulcast.test does).
  await viewer.waitForFunction((v) => v.videoWidth === 320, canvasVideo, { timeout: 60000 });

  // Leaving the stage unpublishes and releases (the page's own track stays live).
  await host.evaluate(() => meeting.stage.leave());
  assert.deepEqual(await host.evaluate(() => ({
    status: meeting.stage.status, videoTrack: meeting.self.videoTrack, videoEnabled: meeting.self.videoEnabled,
    pageTrack: pageTrack.readyState,
  })), { status: "ACCEPTED_TO_JOIN_STAGE", videoTrack: null, videoEnabled: false, pageTrack: "live" });
  await viewer.waitForFunction((u) => byUser(u).videoTrack === null, hostId, T);
  await host.evaluate(() => clearInterval(paint));
  noErrors(host, viewer);
});

test("a presenter who follows another on stage takes its slot: the host sees the new presenter's video", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", A: "webinar_viewer", B: "webinar_viewer" });
  const host = await joinAs(people.Host);
  const a = await joinAs(people.A);
  const b = await joinAs(people.B);
  // Each presenter sends a canvas of its own width, so the host can tell
  // whose frames the (reused) receive slot decodes.
  for (const [page, width] of [[a, 320], [b, 160]]) {
    await page.evaluate(async (width) => {
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = (width * 3) / 4;
      const g = canvas.getContext("2d");
      let hue = 0;
      window.paint = setInterval(() => { g.fillStyle = `hsl(${hue++ % 360} 80% 50%)`; g.fillRect(0, 0, width, width); }, 33);
      await meeting.self.enableVideo(canvas.captureStream(30).getVideoTracks()[0]);
    }, width);
  }
  await grantAndJoin(host, a, people.A.id);
  const va = await decodes(host, people.A.id);
  await host.waitForFunction((v) => v.videoWidth === 320, va, T);
  await a.evaluate(() => meeting.stage.leave());
  await host.waitForFunction((u) => byUser(u).videoTrack === null, people.A.id, T);

  await grantAndJoin(host, b, people.B.id);
  const vb = await decodes(host, people.B.id);
  await host.waitForFunction((v) => v.videoWidth === 160, vb, T);
  assert.equal(await host.evaluate((u) => byUser(u).videoTrack, people.A.id), null);
  for (const page of [a, b]) await page.evaluate(() => clearInterval(paint));
  noErrors(host, a, b);
});

test("media republishes and resubscribes after dropped connections", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(people.Host);
  const viewer = await joinAs(people.Viewer);
  const viewerId = people.Viewer.id;
  await viewer.evaluate(() => meeting.self.enableVideo());
  await grantAndJoin(host, viewer, viewerId);
  await decodes(host, viewerId);

  // The viewer's connection drops: it reconnects within the grace period,
  // still ON_STAGE, and publishes again; the host decodes what it sends
  // now (its old publish connection is gone). The host's slot is rebound to
  // the new track, so its MediaStreamTrack may be the same object as before.
  await viewer.evaluate(() => new Promise((resolve) => {
    meeting.once("reconnected", resolve);
    sockets.at(-1).close();
  }));
  assert.equal(await viewer.evaluate(() => meeting.stage.status), "ON_STAGE");
  assert.equal(await viewer.evaluate(() => meeting.self.videoTrack?.readyState), "live", "the camera stays on");
  await decodes(host, viewerId);

  // The host's connection drops: the server offers it a new subscribe
  // connection, which carries the viewer's video again.
  await host.evaluate(() => new Promise((resolve) => {
    meeting.once("reconnected", resolve);
    sockets.at(-1).close();
  }));
  await host.waitForFunction((u) => byUser(u)?.videoTrack?.readyState === "live", viewerId, T);
  await decodes(host, viewerId);
  noErrors(host, viewer);
});

test("media errors are ClientErrors with codes", async () => {
  const { people } = await createMeeting(server.url, { Viewer: "webinar_viewer" });
  const viewer = await joinAs(people.Viewer);
  const out = await viewer.evaluate(async () => {
    const err = async (fn) => {
      try {
        await fn();
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, prefix: e.message.slice(0, 9) };
      }
    };
    const mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];
    const wrongKind = await err(() => meeting.self.enableVideo(mic));
    const notATrack = await err(() => meeting.self.enableAudio({ kind: "audio" }));
    mic.stop();
    const ended = await err(() => meeting.self.enableAudio(mic));
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("denied", "NotAllowedError"));
    const denied = await err(() => meeting.self.enableVideo());
    return { wrongKind, notATrack, ended, denied, videoEnabled: meeting.self.videoEnabled };
  });
  assert.deepEqual(out, {
    wrongKind: { name: "ClientError", code: "4005", prefix: "[ERR4005]" },
    notATrack: { name: "ClientError", code: "4005", prefix: "[ERR4005]" },
    ended: { name: "ClientError", code: "4005", prefix: "[ERR4005]" },
    denied: { name: "ClientError", code: "4042", prefix: "[ERR4042]" },
    videoEnabled: false,
  });
  noErrors(viewer);
});

test("join rejects with 4041 when publishing fails, ON_STAGE all the same; toggling the camera publishes", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(people.Host);
  const viewer = await joinAs(people.Viewer);
  const viewerId = people.Viewer.id;
  await viewer.evaluate(() => meeting.self.enableVideo());
  await viewer.evaluate(() => meeting.stage.requestAccess());
  await host.waitForFunction((u) => byUser(u)?.stageStatus === "REQUESTED_TO_JOIN_STAGE", viewerId, T);
  await host.evaluate((u) => meeting.stage.grantAccess([u]), viewerId);
  await viewer.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE", null, T);

  const out = await viewer.evaluate(async () => {
    const createOffer = RTCPeerConnection.prototype.createOffer;
    RTCPeerConnection.prototype.createOffer = () => Promise.reject(new DOMException("broken", "OperationError"));
    let err = null;
    try {
      await meeting.stage.join();
    } catch (e) {
      err = { name: e.name, code: e.code, prefix: e.message.slice(0, 9) };
    }
    RTCPeerConnection.prototype.createOffer = createOffer;
    return { err, status: meeting.stage.status, videoEnabled: meeting.self.videoEnabled };
  });
  assert.deepEqual(out, {
    err: { name: "ClientError", code: "4041", prefix: "[ERR4041]" },
    status: "ON_STAGE", videoEnabled: true,
  });
  assert.ok(viewer.warnings.length > 0 && viewer.warnings.every((w) => w.includes("4041")), viewer.warnings.join("\n"));
  viewer.warnings.length = 0;

  await viewer.evaluate(async () => {
    await meeting.self.disableVideo();
    await meeting.self.enableVideo();
  });
  await decodes(host, viewerId);
  noErrors(host, viewer);
});

test("screen share: a second sharer is refused with 2106 and keeps its camera; the first stops, the second shares, a kick ends it", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(people.Host);
  const viewer = await joinAs(people.Viewer);
  const hostId = people.Host.id;
  const viewerId = people.Viewer.id;
  // What the UI kit's grid goes by: participants.joined's screenShareUpdate
  // (it shows a screen view on one that says enabled and removes it on one
  // that says not). The last one for a user must say what is true now.
  for (const p of [host, viewer]) {
    await p.evaluate(() => {
      window.shares = [];
      meeting.participants.joined.on("screenShareUpdate", (peer, u) => shares.push([peer.userId, u.screenShareEnabled]));
    });
  }
  const lastShare = (page, userId, enabled) => page.waitForFunction(([u, on]) =>
    shares.filter(([id]) => id === u).at(-1)?.[1] === on, [userId, enabled], T).catch(async (err) => {
    throw new Error(`${err.message}: screenShareUpdate events ${JSON.stringify(await page.evaluate(() => shares))}, want the last for ${userId} ${enabled}`);
  });

  // Off stage, the viewer may not share: refused before the browser's picker.
  const offStage = await viewer.evaluate(() => meeting.self.enableScreenShare().then(() => "resolved", (e) => e.code));
  assert.equal(offStage, "2006");

  await host.evaluate(async () => {
    await meeting.stage.join();
    await meeting.self.enableScreenShare();
  });
  await viewer.evaluate(() => meeting.self.enableVideo());
  await grantAndJoin(host, viewer, viewerId);
  await decodes(host, viewerId);
  await viewer.waitForFunction((u) => byUser(u)?.screenShareEnabled === true && byUser(u).screenShareTracks.video != null, hostId, T);
  await lastShare(viewer, hostId, true);

  // The room has its one share (max_screenshare_count 1): the server refuses.
  const refused = await viewer.evaluate(() => meeting.self.enableScreenShare().then(() => null,
    (e) => ({ code: e.code, name: e.name, message: e.message, enabled: meeting.self.screenShareEnabled })));
  assert.equal(refused?.code, "2106", JSON.stringify(refused));
  assert.equal(refused.name, "ClientError");
  assert.match(refused.message, /^\[ERR2106\]/);
  assert.equal(refused.enabled, false);
  // Its camera is published again and keeps reaching the host.
  await decodes(host, viewerId);

  // The host stops sharing; now the viewer may, and the host sees its screen.
  await host.evaluate(() => meeting.self.disableScreenShare());
  await viewer.waitForFunction((u) => byUser(u)?.screenShareEnabled === false, hostId, T);
  await lastShare(viewer, hostId, false);
  await viewer.evaluate(() => meeting.self.enableScreenShare());
  await host.waitForFunction((u) => byUser(u)?.screenShareTracks.video != null, viewerId, T);
  const screen = await host.evaluateHandle((u) => watch(byUser(u).screenShareTracks.video), viewerId);
  await host.waitForFunction((v) => v.videoWidth > 0 && frames(v) > 1, screen, T);
  await lastShare(host, viewerId, true);

  // The host kicks the viewer: the share ends at the host and at the viewer.
  await host.evaluate((u) => meeting.stage.kick([u]), viewerId);
  await host.waitForFunction((u) => byUser(u)?.screenShareEnabled === false && byUser(u).screenShareTracks.video === null, viewerId, T);
  await lastShare(host, viewerId, false);
  await viewer.waitForFunction(() => !meeting.self.screenShareEnabled && meeting.self.screenShareTracks.video === null, null, T);
  await stopsDecoding(host, screen);
  noErrors(host, viewer);
  for (const p of [host, viewer]) await p.evaluate(() => meeting.leave());
});
