// Media between nodes in real pages: two nodes with -edges (a PostgreSQL
// and a redis-server started by internal/clusterenv), the host on the
// room's owner, a viewer on the other node (an edge), which gets the host's
// camera from its own SFU over the relay from the owner; and two viewers on
// the edge, one of them on a shaped link (e2e/netlab.mjs), who get
// different simulcast layers of the one relayed camera; and a presenter on
// the edge, in a lab, whose link is black-holed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { startServer, createMeeting, launch, openPage, openJoined, mediaHelpers, root, recordPeerConnections, recordLayerWidths, layerOf, playVideoOf, secureOrigin } from "./lib.mjs";
import { unavailable, makeLab } from "./netlab.mjs";

const noLab = unavailable();
let env, browser, lab, labBrowser;
const nodes = [];

const freePort = () => new Promise((resolve) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

before(async () => {
  env = spawn(process.env.GO ?? "go", ["run", "./internal/clusterenv/cmd/clusterenv"], { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
  const urls = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("clusterenv did not start")), 180000);
    env.stdout.on("data", (chunk) => {
      out += chunk;
      const end = out.indexOf("\n");
      if (end >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, end)));
      }
    });
    env.on("exit", (code) => reject(new Error(`clusterenv exited ${code}`)));
  });
  for (const id of ["a", "b"]) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // On every address: a lab's page reaches the node on the lab's host
    // address; the nodes know each other by their loopback URLs.
    const node = await startServer(["-addr", `0.0.0.0:${port}`, "-cluster", "-edges", "-redis", urls.redis,
      "-postgres", urls.postgres, "-node-id", id, "-advertise", url, "-lease-ttl", "2s",
      "-grace", "20s"]); // the server's default: a dark presenter keeps its place meanwhile
    nodes.push({ ...node, url, port });
  }
  await new Promise((r) => setTimeout(r, 2000)); // each node's list holds the other (heartbeats every TTL/2)
  browser = await launch();
  if (!noLab) {
    lab = makeLab();
    labBrowser = await lab.launch();
  }
}, { timeout: 240000 });

after(async () => {
  await labBrowser?.close();
  lab?.close();
  await browser?.close();
  for (const n of nodes) await n.stop();
  if (env && env.exitCode === null) {
    const exited = new Promise((r) => env.once("exit", r));
    env.stdin.end();
    await exited;
  }
});

const T = { timeout: 20000 };

// Opens a page on node, joins the room and installs helpers: watch(track)
// plays a track in a <video>, frames(video) counts its decoded frames.
async function joinAs(node, person) {
  const page = await openPage(browser, node.url);
  await page.evaluate(async (authToken) => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    window.meeting = meeting;
  }, person.token);
  await page.evaluate(mediaHelpers);
  return page;
}

async function metric(node, name) {
  const text = await (await fetch(node.url + "/metrics")).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

test("a viewer on an edge sees the host's camera, relayed from the room's owner", async () => {
  const [a, b] = nodes;
  const { people } = await createMeeting(a.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await joinAs(a, people.Host);
  const viewer = await joinAs(b, people.Viewer);
  assert.equal(await metric(a, "stagekit_rooms"), 1, "the room is A's");
  assert.equal(await metric(b, "stagekit_rooms"), 0, "B serves the viewer as an edge");
  assert.equal(await viewer.evaluate(() => location.origin), b.url, "the viewer stayed on B");

  await host.evaluate(() => meeting.stage.join());
  await host.evaluate(() => meeting.self.enableVideo());
  const video = await viewer.waitForFunction((u) => {
    const t = byUser(u)?.videoTrack;
    return t ? watch(t) : null;
  }, people.Host.id, T);
  await viewer.waitForFunction((v) => v.videoWidth > 0 && frames(v) > 3, video, T);
  const n = await viewer.evaluate((v) => frames(v), video);
  await viewer.waitForFunction(([v, n]) => frames(v) > n + 10, [video, n], T);
  // B took the camera from A once, over its relay, and forwards it to its
  // viewer: its simulcast layers, a track each as on A (each layer's first
  // packets cross before B lets the layers its viewer does not watch go).
  assert.equal(await metric(b, "stagekit_media_relays_in"), 1);
  assert.equal(await metric(a, "stagekit_media_relays_out"), 1);
  const layers = await metric(a, "stagekit_media_tracks");
  assert.ok(layers >= 1 && layers <= 3, `A forwards the camera as ${layers} tracks`);
  for (const end = Date.now() + 10000; await metric(b, "stagekit_media_tracks") !== layers && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(await metric(b, "stagekit_media_tracks"), layers, "B has each layer A forwards");
  for (const p of [host, viewer]) assert.deepEqual(p.errors.map(String), []);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls the viewers' received video every 250 ms until done(samples), each
// sample with the layer it decodes; the seconds it took, or null after
// timeout, and the last samples.
async function untilLayers(presenter, viewers, done, timeout) {
  const start = Date.now();
  let s = [];
  for (;;) {
    const widths = await presenter.evaluate(() => layerWidths());
    s = await Promise.all(viewers.map((p) => p.evaluate(() => inbound())));
    for (const v of s) v.layer = layerOf(v.width, widths);
    if (done(s)) return { secs: (Date.now() - start) / 1000, last: s };
    if (Date.now() - start > timeout) return { secs: null, last: s };
    await sleep(250);
  }
}

test("two viewers on an edge get different layers of the relayed camera: the one on a 300 kbit/s link the low one, the other the full one", { skip: noLab || false, timeout: 200000 }, async (t) => {
  const [a, b] = nodes;
  const { people } = await createMeeting(a.url, { Host: "webinar_host", Free: "webinar_viewer", Shaped: "webinar_viewer" });
  const join = (br, url, person) => openJoined(br, url, person, recordPeerConnections, recordLayerWidths);
  const host = await join(browser, a.url, people.Host);
  const free = await join(browser, b.url, people.Free);
  const shaped = await join(labBrowser, `http://${lab.hostAddr}:${b.port}`, people.Shaped);
  await host.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.stage.join();
  });
  await playVideoOf(free, people.Host.id);
  await playVideoOf(shaped, people.Host.id);
  // Both on the full layer before the limit: the shaped one must be moved
  // down, not start low. (Up to 60 s: the presenter's Chromium adds its
  // top layer as its own estimate ramps up.)
  const top = await untilLayers(host, [free, shaped], ([f, s]) => f.layer === "f" && s.layer === "f", 60000);
  assert.ok(top.secs !== null, `both edge viewers decode the full layer: ${JSON.stringify(top.last)}`);

  lab.shape("down", "300kbit");
  const low = await untilLayers(host, [free, shaped], ([, s]) => s.layer === "q", 40000);
  assert.ok(low.secs !== null, `the shaped viewer gets the low layer: ${JSON.stringify(low.last)}`);
  // Held there a while: both go on decoding, each its own layer.
  const [f0, s0] = low.last;
  const held = await untilLayers(host, [free, shaped], () => false, 8000);
  const [f1, s1] = held.last;
  assert.equal(f1.layer, "f", "the free viewer keeps the full layer");
  assert.equal(s1.layer, "q", "the shaped viewer stays on the low layer");
  assert.ok(f1.framesDecoded > f0.framesDecoded + 50 && s1.framesDecoded > s0.framesDecoded + 50,
    `both decoding: free ${f0.framesDecoded} → ${f1.framesDecoded}, shaped ${s0.framesDecoded} → ${s1.framesDecoded}`);
  // Nobody on either node watches the half layer: the owner has the
  // presenter's browser stop sending it (the edge told it its viewers'
  // layers).
  const paused = await host.waitForFunction(() => pcs.some((pc) => pc.getSenders().some((s) =>
    (s.getParameters().encodings ?? []).some((e) => e.rid === "h" && e.active === false))), null, { timeout: 10000 }).then(() => true, () => false);
  assert.ok(paused, "the half layer, watched on no node, is paused at the presenter");
  lab.unshape("down");
  t.diagnostic(`figures: both edge viewers on the full layer after ${top.secs.toFixed(1)} s; the shaped one on the low layer ${low.secs.toFixed(1)} s after the limit`);
  for (const p of [host, free, shaped]) assert.deepEqual(p.errors.map(String), []);
});

// A presenter on the edge whose link is black-holed (its browser in a lab,
// on node B; the host on the owner, A): the edge finds its media silent,
// probes its WebSocket and tells the owner, and the host sees it
// reconnecting, still on stage; the link back within the grace period, it
// is back on stage and its video plays at the host again. The figures are
// printed, not asserted.
test("a presenter on an edge is black-holed: the host on the owner sees it reconnecting, and it keeps its place", { skip: noLab || false, timeout: 150000 }, async (t) => {
  const [a, b] = nodes;
  const { people } = await createMeeting(a.url, { Host: "webinar_host", Presenter: "webinar_host" });
  const url = `http://${lab.hostAddr}:${b.port}`;
  const presenterBrowser = await lab.launch([secureOrigin(url)]); // a secure context for its camera
  try {
    const host = await joinAs(a, people.Host);
    const presenter = await openJoined(presenterBrowser, url, people.Presenter);
    const pid = people.Presenter.id;
    await presenter.evaluate(async () => {
      await meeting.self.enableVideo();
      await meeting.stage.join();
    });
    await playVideoOf(host, pid);
    assert.equal(await metric(b, "stagekit_rooms"), 0, "B serves the presenter as an edge");

    const t0 = Date.now();
    lab.blackhole(true);
    await host.waitForFunction((u) => byUser(u)?.reconnecting === true, pid, { timeout: 60000 });
    const seen = Date.now() - t0;
    assert.equal(await host.evaluate((u) => byUser(u).stageStatus, pid), "ON_STAGE", "still on stage while reconnecting");
    await sleep(2000);
    const t1 = Date.now();
    lab.blackhole(false);
    await host.waitForFunction((u) => byUser(u)?.reconnecting === false, pid, { timeout: 60000 });
    const back = Date.now() - t1;
    assert.equal(await presenter.evaluate(() => meeting.stage.status), "ON_STAGE");
    assert.equal(await host.evaluate((u) => byUser(u)?.stageStatus, pid), "ON_STAGE");
    await playVideoOf(host, pid);
    t.diagnostic(`figures: the host on the owner saw the edge presenter reconnecting ${seen} ms after its link went dark; ` +
      `lifted ${t1 - t0} ms after it, back ${back} ms later, its video playing again ${Date.now() - t1} ms after the lift`);
    assert.deepEqual(host.errors.map(String), []); // the dark presenter's console logs its failed sockets
  } finally {
    lab.blackhole(false);
    await presenterBrowser.close();
  }
});
