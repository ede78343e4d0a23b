// Media between nodes in real pages: two nodes with -edges (a PostgreSQL
// and a redis-server started by internal/clusterenv), the host on the
// room's owner, a viewer on the other node (an edge), which gets the host's
// camera from its own SFU over the relay from the owner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { startServer, createMeeting, launch, openPage, root } from "./lib.mjs";

let env, browser;
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
    nodes.push(await startServer(["-addr", `127.0.0.1:${port}`, "-cluster", "-edges", "-redis", urls.redis,
      "-postgres", urls.postgres, "-node-id", id, "-advertise", url, "-lease-ttl", "2s"]));
  }
  await new Promise((r) => setTimeout(r, 2000)); // each node's list holds the other (heartbeats every TTL/2)
  browser = await launch();
}, { timeout: 240000 });

after(async () => {
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
    window.watch = (track) => {
      const v = document.createElement("video");
      v.muted = true;
      v.autoplay = true;
      v.playsInline = true;
      v.srcObject = new MediaStream([track]);
      document.body.append(v);
      v.play().catch(() => {});
      return v;
    };
    window.frames = (v) => v.getVideoPlaybackQuality().totalVideoFrames;
    window.byUser = (userId) => meeting.participants.joined.toArray().find((p) => p.userId === userId);
  }, person.token);
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
  // B took the camera from A once, over its relay, and forwards it to its viewer.
  assert.equal(await metric(b, "stagekit_media_relays_in"), 1);
  assert.equal(await metric(b, "stagekit_media_tracks"), 1);
  assert.equal(await metric(a, "stagekit_media_relays_out"), 1);
  for (const p of [host, viewer]) assert.deepEqual(p.errors.map(String), []);
});
