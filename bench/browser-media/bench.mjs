// Benchmark: meeting.stage.join() → the first frame of the joiner's camera
// decoded in another participant's page. Real server (bin/stageserver and its
// SFU) on loopback, Debian's Chromium with a fake camera, two pages (a host
// and a viewer). Each run: the viewer enables its camera, asks, is granted,
// then the clock starts just before join() and stops at the host's first
// video frame (requestVideoFrameCallback on a <video> playing the viewer's
// videoTrack); the host then kicks the viewer (which releases its camera and
// closes its publish connection) before the next run.
//
//   node bench/browser-media/bench.mjs          (BENCH_RUNS=20 by default)
//
// Needs `make build` first (bin/stageserver and web/sdk).
import { startServer, createMeeting, launch } from "../../e2e/lib.mjs";
import { openJoined, measure, line } from "./lib.mjs";

const runs = Number(process.env.BENCH_RUNS || 20);
const T = { timeout: 20000 };

const server = await startServer();
const browser = await launch();
try {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await openJoined(browser, server.url, people.Host);
  const viewer = await openJoined(browser, server.url, people.Viewer);
  const viewerId = people.Viewer.id;

  // Host side: resolves with the time the viewer's first video frame is
  // presented.
  await host.evaluate((u) => {
    window.firstFrame = () => new Promise((resolve) => {
      const joined = meeting.participants.joined;
      const onVideo = (p, { videoTrack }) => {
        if (p.userId !== u || !videoTrack) return;
        joined.off("videoUpdate", onVideo);
        const v = document.createElement("video");
        v.muted = true;
        v.autoplay = true;
        v.srcObject = new MediaStream([videoTrack]);
        document.body.replaceChildren(v);
        v.play().catch(() => {});
        if (v.requestVideoFrameCallback) {
          v.requestVideoFrameCallback((now) => resolve(performance.timeOrigin + now));
        } else {
          v.addEventListener("loadeddata", () => resolve(clock()), { once: true });
        }
      };
      joined.on("videoUpdate", onVideo);
    });
  }, viewerId);

  const one = async () => {
    await viewer.evaluate(() => meeting.self.enableVideo());
    await viewer.evaluate(() => meeting.stage.requestAccess());
    await host.waitForFunction((u) => meeting.participants.joined.toArray()
      .some((p) => p.userId === u && p.stageStatus === "REQUESTED_TO_JOIN_STAGE"), viewerId, T);
    await host.evaluate((u) => meeting.stage.grantAccess([u]), viewerId);
    await viewer.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE", null, T);
    await host.evaluate(() => { window.frame = firstFrame(); });
    const { t0, t1 } = await viewer.evaluate(async () => {
      const t0 = clock();
      await meeting.stage.join();
      return { t0, t1: clock() };
    });
    const tf = await host.evaluate(() => frame);
    await host.evaluate((u) => meeting.stage.kick([u]), viewerId);
    await host.waitForFunction((u) => meeting.participants.joined.toArray()
      .some((p) => p.userId === u && p.videoTrack === null), viewerId, T);
    await viewer.waitForFunction(() => meeting.stage.status === "OFF_STAGE" && meeting.self.videoTrack === null, null, T);
    return { frame: tf - t0, join: t1 - t0 };
  };

  const { cold, samples } = await measure(one, runs, [host, viewer]);
  console.log(`browser media (Chromium, loopback, ${runs} runs after 1 cold run)`);
  console.log(line("stage.join() → first frame at the host", samples.map((s) => s.frame)));
  console.log(line("stage.join() resolves (published, answered)", samples.map((s) => s.join)));
  if (process.env.BENCH_VERBOSE) console.log(samples.map((s) => `${s.frame.toFixed(0)}/${s.join.toFixed(0)}`).join(" "));
  console.log(`cold run: join → first frame ${cold.frame.toFixed(0)} ms, join() ${cold.join.toFixed(0)} ms`);
} finally {
  await browser.close();
  await server.stop();
}
