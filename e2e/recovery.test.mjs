// Recovery without rejoining, in real Chromium against the real server, with
// one participant's browser inside a link lab (scripts/netlab.sh): its
// address replaced (a network change), or its link black-holed. The SDK's
// default settings throughout; the figures are printed, not asserted (a slow
// machine must not fail a test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, createMeeting, launch, secureOrigin } from "./lib.mjs";
import { unavailable, makeLab } from "./netlab.mjs";

const skip = unavailable() || false;
let lab, server, outside, inside;
before(async () => {
  if (skip) return;
  lab = makeLab();
  // The server on the lab's host address: both browsers reach it. The
  // server's default grace period (the e2e default is 2 s).
  server = await startServer(["-addr", `${lab.hostAddr}:0`, "-grace", "20s", ...(process.env.STAGEKIT_RECOVERY_DEBUG ? ["-log-level", "debug"] : [])]);
  // A secure context for the cameras, as on loopback.
  outside = await launch([secureOrigin(server.url)]);
  inside = await lab.launch([secureOrigin(server.url)]);
});
after(async () => {
  if (process.env.STAGEKIT_RECOVERY_DEBUG && server) console.log(server.log());
  await inside?.close();
  await outside?.close();
  await server?.stop();
  lab?.close();
});

const T = { timeout: 20000 };

// Opens a page in browser, joins, and installs helpers: log (events of the
// page's meeting that recovery may cause), watch(track) (a <video> whose
// presented frames are timestamped), byUser. setup, if given, is evaluated
// in the page before the SDK loads.
async function joinAs(browser, person, setup) {
  const page = await (await browser.newContext()).newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err));
  await page.goto(server.url + "/demo/blank.html");
  if (setup) await page.evaluate(setup);
  if (process.env.STAGEKIT_E2E_DEBUG) {
    // The SDK's debug lines, on stderr, named by participant.
    page.on("console", (msg) => process.stderr.write(`[${person.name}] ${msg.text()}\n`));
    await page.evaluate(() => { globalThis.STAGEKIT_DEBUG = true; });
  }
  await page.evaluate(async (authToken) => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    window.meeting = meeting;
    window.log = [];
    const at = () => Math.round(performance.now());
    meeting.meta.on("mediaConnectionUpdate", (u) => log.push({ at: at(), ev: `media ${u.transport} ${u.state}` }));
    meeting.meta.on("socketConnectionUpdate", (s) => log.push({ at: at(), ev: `socket ${s.state}` }));
    meeting.self.on("roomJoined", (p) => log.push({ at: at(), ev: `roomJoined ${p?.reconnected}` }));
    meeting.self.on("roomLeft", (p) => log.push({ at: at(), ev: `roomLeft ${p?.state}` }));
    for (const name of ["online", "offline"]) addEventListener(name, () => log.push({ at: at(), ev: `window ${name}` }));
    navigator.connection?.addEventListener("change", () => log.push({ at: at(), ev: `connection change ${navigator.connection.type}` }));
    await meeting.join();
    const joined = meeting.participants.joined;
    for (const name of ["participantJoined", "participantLeft", "connectionUpdate"]) {
      joined.on(name, (p) => log.push({ at: at(), ev: `${name} ${p.userId} ${p.reconnecting}` }));
    }
    window.byUser = (u) => joined.toArray().find((p) => p.userId === u);
    window.watch = (track) => {
      const v = document.createElement("video");
      v.muted = true;
      v.autoplay = true;
      v.srcObject = new MediaStream([track]);
      document.body.append(v);
      v.play().catch(() => {});
      v.shown = [];
      const each = (now) => {
        v.shown.push(now);
        v.requestVideoFrameCallback(each);
      };
      v.requestVideoFrameCallback(each);
      return v;
    };
  }, person.token);
  return page;
}

// Resolves once the page shows frames of the user's video; returns the
// <video> handle.
async function decodes(page, userId) {
  const video = await page.waitForFunction((u) => {
    const t = byUser(u)?.videoTrack;
    return t ? watch(t) : null;
  }, userId, T);
  await page.waitForFunction((v) => v.shown.length > 10, video, T);
  return video;
}

// The frames shown after `since` (performance.now() ms): the longest gap
// between two of them (the first counted from since), and whether frames
// are still coming.
async function frameGap(page, video, since) {
  return page.evaluate(([v, since]) => {
    const after = v.shown.filter((t) => t >= since);
    let gap = 0, gapEnd = since, prev = since;
    for (const t of after) {
      if (t - prev > gap) [gap, gapEnd] = [t - prev, t];
      prev = t;
    }
    return { gap: Math.round(gap), resumedAfter: Math.round(gapEnd - since), frames: after.length,
      lastAgo: Math.round(performance.now() - (after.at(-1) ?? since)) };
  }, [video, since]);
}

const now = (page) => page.evaluate(() => performance.now());

test("a viewer's network changes: its media flows again, with no new join", { skip, timeout: 90000 }, async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(outside, people.Host);
  const viewer = await joinAs(inside, people.Viewer);
  await host.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.stage.join();
  });
  const video = await decodes(viewer, people.Host.id);
  const before = await viewer.evaluate((u) => {
    window.firstTrack = byUser(u).videoTrack;
    log.length = 0;
    return { peerId: meeting.self.peerId, status: meeting.stage.status };
  }, people.Host.id);
  await host.evaluate(() => { log.length = 0; });

  const t0 = await now(viewer);
  const addr = lab.readdress();
  // Media flows again: frames keep coming well after the change.
  await viewer.waitForFunction(([v, t0]) => v.shown.filter((t) => t > t0 + 1000).length > 30 &&
    performance.now() - v.shown.at(-1) < 500, [video, t0 + 0], { timeout: 30000 }).catch(async (err) => {
    const log = await viewer.evaluate((t0) => log.map((e) => `${e.at - Math.round(t0)}ms ${e.ev}`), t0);
    throw new Error(`${err.message}; viewer events since the change: ${JSON.stringify(log)}`);
  });
  const f = await frameGap(viewer, video, t0);
  const after = await viewer.evaluate(([u, t0]) => ({
    peerId: meeting.self.peerId, status: meeting.stage.status, sameTrack: byUser(u).videoTrack === firstTrack,
    log: log.map((e) => `${Math.round(e.at - t0)}ms ${e.ev}`),
  }), [people.Host.id, t0]);
  const hostLog = await host.evaluate(() => log.map((e) => e.ev));
  console.log(`# readdress ${lab.n} → ${addr}: longest frame gap ${f.gap} ms, frames again ${f.resumedAfter} ms after the change;` +
    ` viewer events: ${JSON.stringify(after.log)}; host events: ${JSON.stringify(hostLog)}`);

  // Same user, same place, same track object: no new join from the page.
  assert.equal(after.peerId, before.peerId);
  assert.equal(after.status, before.status);
  assert.ok(after.sameTrack, "the viewer kept the host's track");
  assert.ok(!hostLog.some((e) => e.startsWith("participantLeft") || e.startsWith("participantJoined")),
    `the host saw the viewer leave or join: ${hostLog}`);
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});

test("a presenter's link is black-holed: hosts see it reconnecting, and it keeps its place", { skip, timeout: 120000 }, async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Presenter: "webinar_host" });
  const host = await joinAs(outside, people.Host);
  const presenter = await joinAs(inside, people.Presenter);
  const pid = people.Presenter.id;
  await presenter.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.stage.join();
  });
  const video = await decodes(host, pid);
  await host.evaluate(() => { log.length = 0; });

  const t0 = await now(host);
  lab.blackhole(true);
  // Hosts are told: the participant is reconnecting (no timing asserted).
  await host.waitForFunction((u) => byUser(u)?.reconnecting === true, pid, { timeout: 60000 });
  const seenAfter = Math.round((await now(host)) - t0);
  assert.equal(await host.evaluate((u) => byUser(u).stageStatus, pid), "ON_STAGE", "still on stage while reconnecting");

  // Back within the grace period: the same place on stage, and its video again.
  await new Promise((r) => setTimeout(r, 2000));
  const t1 = await now(host);
  lab.blackhole(false);
  await host.waitForFunction((u) => byUser(u)?.reconnecting === false, pid, { timeout: 60000 });
  const backAfter = Math.round((await now(host)) - t1);
  await host.waitForFunction(([v, t1]) => v.shown.filter((t) => t > t1).length > 30, [video, t1], { timeout: 30000 }).catch(() => null);
  const frames = await frameGap(host, video, t1);
  const hostLog = await host.evaluate(() => log.map((e) => e.ev));
  const self = await presenter.evaluate(() => ({ status: meeting.stage.status, log: log.map((e) => e.ev) }));
  console.log(`# black hole: hosts saw the presenter reconnecting ${seenAfter} ms after it started;` +
    ` lifted after ${Math.round(t1 - t0)} ms, back ${backAfter} ms later, its video again ${frames.resumedAfter} ms after the lift` +
    ` (${frames.frames} frames since); host events: ${JSON.stringify(hostLog)}; presenter events: ${JSON.stringify(self.log)}`);

  assert.equal(self.status, "ON_STAGE");
  assert.equal(await host.evaluate((u) => byUser(u)?.stageStatus, pid), "ON_STAGE");
  assert.ok(!hostLog.some((e) => e.startsWith("participantLeft")), `the host saw the presenter leave: ${hostLog}`);
  // Its video plays at the host again, on a track the host holds.
  await host.waitForFunction((u) => byUser(u)?.videoTrack != null, pid, T);
  assert.deepEqual([...host.errors, ...presenter.errors].map(String), []);
});

// The presenter's browser starts again from a low rate after its network
// changed, with its lowest simulcast layer only: the host must be moved to
// a layer that flows (the server's stalled layers), or its video stays
// frozen (it did for 30 s in a CI run before that).
test("a presenter's network changes: its video flows again at the host, on the same track", { skip, timeout: 90000 }, async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Presenter: "webinar_host" });
  const host = await joinAs(outside, people.Host);
  const presenter = await joinAs(inside, people.Presenter);
  const pid = people.Presenter.id;
  await presenter.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.stage.join();
  });
  const video = await decodes(host, pid);
  await host.evaluate((u) => {
    window.firstTrack = byUser(u).videoTrack;
    log.length = 0;
  }, pid);
  await presenter.evaluate(() => { log.length = 0; });

  const t0 = await now(host);
  const p0 = await now(presenter);
  const addr = lab.readdress();
  await host.waitForFunction(([v, t0]) => v.shown.filter((t) => t > t0 + 1000).length > 30 &&
    performance.now() - v.shown.at(-1) < 500, [video, t0], { timeout: 30000 }).catch(async (err) => {
    const log = await presenter.evaluate(() => log.map((e) => e.ev));
    throw new Error(`${err.message}; presenter events since the change: ${JSON.stringify(log)}`);
  });
  const f = await frameGap(host, video, t0);
  const hostSide = await host.evaluate((u) => ({ sameTrack: byUser(u).videoTrack === firstTrack, status: byUser(u).stageStatus,
    log: log.map((e) => e.ev) }), pid);
  const self = await presenter.evaluate((p0) => ({ status: meeting.stage.status, log: log.map((e) => `${Math.round(e.at - p0)}ms ${e.ev}`) }), p0);
  console.log(`# presenter readdress ${lab.n} → ${addr}: longest frame gap at the host ${f.gap} ms, frames again ${f.resumedAfter} ms` +
    ` after the change; presenter events: ${JSON.stringify(self.log)}; host events: ${JSON.stringify(hostSide.log)}`);

  assert.equal(self.status, "ON_STAGE");
  assert.equal(hostSide.status, "ON_STAGE");
  assert.ok(hostSide.sameTrack, "the host kept the presenter's track");
  assert.ok(!hostSide.log.some((e) => e.startsWith("participantLeft") || e.startsWith("participantJoined")),
    `the host saw the presenter leave or join: ${hostSide.log}`);
  assert.deepEqual([...host.errors, ...presenter.errors].map(String), []);
});

// Page side, before the SDK loads: window.pcs, the page's peer
// connections, each with the states it reached (seen).
function recordStates() {
  const Native = RTCPeerConnection;
  window.pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      this.seen = new Set();
      this.addEventListener("iceconnectionstatechange", () => this.seen.add(`ice ${this.iceConnectionState}`));
      this.addEventListener("connectionstatechange", () => this.seen.add(this.connectionState));
      window.pcs.push(this);
    }
  };
}

// A middlebox that passes ICE's checks and drops the DTLS handshake for a
// while: the viewer's browser sends its lost flights again after a timer
// that doubles each time (from 50 ms), so after a 13 s block it waited
// 12.5 s more, its connection "connecting" with ICE connected all along.
// The server offers a new connection when the handshake has not finished
// 2 s after ICE connected. Here the handshake is dropped until that new
// connection is made: without it, no video ever comes.
test("a viewer's DTLS handshake is dropped: the server offers a new connection, and its video plays", { skip, timeout: 60000 }, async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(outside, people.Host);
  await host.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.stage.join();
  });
  lab.dtlshole(true);
  let viewer, first, drops, t0;
  try {
    viewer = await joinAs(inside, people.Viewer, recordStates);
    await viewer.waitForFunction((u) => pcs.length >= 2 &&
      pcs.at(-1).getReceivers().some((r) => r.track === byUser(u)?.videoTrack), people.Host.id, { timeout: 30000 });
    first = await viewer.evaluate(() => [...pcs[0].seen]);
    drops = lab.dtlsdrops();
  } finally {
    lab.dtlshole(false);
  }
  t0 = await now(viewer);
  const video = await decodes(viewer, people.Host.id);
  const f = await frameGap(viewer, video, t0);
  console.log(`# DTLS dropped (${drops} packets) until the server's new connection: video ${f.resumedAfter} ms after the lift;` +
    ` the first connection reached ${JSON.stringify(first)}`);
  assert.ok(drops > 0, "the lab dropped no DTLS packet");
  assert.ok(first.includes("ice connected") && !first.includes("connected"), `the first connection: ${first}`);
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});

// A viewer whose network is dark for its first seconds (UDP dropped both
// ways; its WebSocket passes): the server's checks of the subscribe
// connection all go unanswered and it stopped checking; the viewer's
// browser goes on checking, and once its checks get through the server
// checks back (pion-ice patch: a request on a failed pair triggers a
// check) and the video comes within a second. Before, the connection
// stayed checking until ICE failed it and the server restarted ICE: video
// 27 s after a 3 s dark start.
test("a viewer's network is dark for its first seconds: its video comes once the network is back", { skip, timeout: 60000 }, async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(outside, people.Host);
  await host.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.stage.join();
  });
  lab.loss("both", 100);
  let viewer, t0;
  try {
    viewer = await joinAs(inside, people.Viewer, recordStates);
    await viewer.waitForFunction(() => pcs.length > 0, null, T);
    // Long enough for the server's checks to run out (seven, 200 ms apart).
    await new Promise((r) => setTimeout(r, 4000));
  } finally {
    lab.loss("both", 0);
  }
  t0 = await now(viewer);
  // Within 15 s of the lift: ICE's failed timeout (30 s) is well after.
  const video = await viewer.waitForFunction((u) => {
    const t = byUser(u)?.videoTrack;
    return t ? watch(t) : null;
  }, people.Host.id, T);
  await viewer.waitForFunction((v) => v.shown.length > 0, video, { timeout: 15000 });
  const f = await frameGap(viewer, video, t0);
  const states = await viewer.evaluate(() => pcs.map((pc) => [...pc.seen]));
  console.log(`# dark for the first 4 s: video ${f.resumedAfter} ms after the lift; the connections reached ${JSON.stringify(states)}`);
  assert.equal(states.length, 1, "one subscribe connection, not a new one");
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});
