// Benchmark: self.enableScreenShare() → the first frame of the screen decoded
// in another participant's page, with the SDK's default settings. Real server
// (bin/stageserver and its SFU) on loopback, Debian's Chromium with a fake
// camera and a fake screen (picked without a dialog), two pages: a host and a
// viewer on stage with its camera on. Each run: the clock starts just before
// enableScreenShare() (the browser's screen capture included) and stops at the
// host's first frame of the screen (requestVideoFrameCallback on a <video>
// playing screenShareTracks.video, set on screenShareUpdate); the viewer then
// stops sharing and the host sees the share end before the next run.
//
//   node bench/browser-media/screenshare.mjs          (BENCH_RUNS=20 by default)
//
// Needs `make build` first (bin/stageserver and web/sdk).
import { chromium } from "playwright-core";
import { startServer, createMeeting, chromiumArgs } from "../../e2e/lib.mjs";
import { openJoined, measure, line } from "./lib.mjs";

const runs = Number(process.env.BENCH_RUNS || 20);
const T = { timeout: 20000 };

const server = await startServer();
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
  args: [...chromiumArgs, "--auto-select-desktop-capture-source=Entire screen"] });
try {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await openJoined(browser, server.url, people.Host);
  const viewer = await openJoined(browser, server.url, people.Viewer);
  const viewerId = people.Viewer.id;

  // The viewer on stage with its camera, as a presenter.
  await host.evaluate(() => meeting.stage.join());
  await viewer.evaluate(() => meeting.self.enableVideo());
  await viewer.evaluate(() => meeting.stage.requestAccess());
  await host.waitForFunction((u) => meeting.participants.joined.toArray()
    .some((p) => p.userId === u && p.stageStatus === "REQUESTED_TO_JOIN_STAGE"), viewerId, T);
  await host.evaluate((u) => meeting.stage.grantAccess([u]), viewerId);
  await viewer.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE", null, T);
  await viewer.evaluate(() => meeting.stage.join());

  // Host side: resolves with the time the viewer's first screen frame is presented.
  await host.evaluate((u) => {
    window.firstScreenFrame = () => new Promise((resolve) => {
      const joined = meeting.participants.joined;
      const onShare = (p, { screenShareEnabled, screenShareTracks }) => {
        if (p.userId !== u || !screenShareEnabled || !screenShareTracks.video) return;
        joined.off("screenShareUpdate", onShare);
        const v = document.createElement("video");
        v.muted = true;
        v.autoplay = true;
        v.srcObject = new MediaStream([screenShareTracks.video]);
        document.body.replaceChildren(v);
        v.play().catch(() => {});
        v.requestVideoFrameCallback((now) => resolve(performance.timeOrigin + now));
      };
      joined.on("screenShareUpdate", onShare);
    });
  }, viewerId);

  const one = async () => {
    await host.evaluate(() => { window.frame = firstScreenFrame(); });
    const { t0, t1 } = await viewer.evaluate(async () => {
      const t0 = clock();
      await meeting.self.enableScreenShare();
      return { t0, t1: clock() };
    });
    const tf = await host.evaluate(() => frame);
    await viewer.evaluate(() => meeting.self.disableScreenShare());
    await host.waitForFunction((u) => meeting.participants.joined.toArray()
      .some((p) => p.userId === u && !p.screenShareEnabled), viewerId, T);
    return { frame: tf - t0, enable: t1 - t0 };
  };

  const { cold, samples } = await measure(one, runs, [host, viewer]);
  console.log(`browser screen share (Chromium, loopback, ${runs} runs after 1 cold run)`);
  console.log(line("enableScreenShare() → first screen frame at the host", samples.map((s) => s.frame), 52));
  console.log(line("enableScreenShare() resolves (captured, published)", samples.map((s) => s.enable), 52));
  if (process.env.BENCH_VERBOSE) console.log(samples.map((s) => `${s.frame.toFixed(0)}/${s.enable.toFixed(0)}`).join(" "));
  console.log(`cold run: share → first frame ${cold.frame.toFixed(0)} ms, enableScreenShare() ${cold.enable.toFixed(0)} ms`);
} finally {
  await browser.close();
  await server.stop();
}
