// Benchmark: recovery without rejoining, in a link lab (scripts/netlab.sh;
// needs root). The real server on the lab's host address, a presenter's
// Chromium outside the lab and another's inside, the SDK's defaults.
//   - network change: the viewer inside has its address replaced; the
//     figure is the longest gap between two video frames it shows (the
//     presenter's camera) from the change on, until frames flow again.
//   - presenter's network change: the presenter inside has its address
//     replaced; the figure is the longest gap between two frames of its
//     video the host outside shows, from the change on.
//   - black hole: the presenter inside has its link black-holed; the
//     figures are the time until the host outside sees it reconnecting, and
//     after the lift (2 s later), until it sees it back.
//
//   node bench/browser-media/recovery.mjs   (BENCH_RUNS=5 by default)
//
// Needs `make build` first (bin/stageserver and web/sdk).
import { createMeeting } from "../../e2e/lib.mjs";
import { openJoined, line, labBench } from "./lib.mjs";

const bench = await labBench("recovery");
if (!bench) process.exit(0);
const { lab, server, outside, inside } = bench;
const runs = Number(process.env.BENCH_RUNS || 5);
const T = { timeout: 30000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  // Shows the user's video in a <video> whose presented frames are
  // timestamped (performance.now()).
  const watch = (page, userId) => page.waitForFunction((u) => {
    const t = meeting.participants.joined.toArray().find((p) => p.userId === u)?.videoTrack;
    if (!t) return null;
    const v = document.createElement("video");
    v.muted = true;
    v.autoplay = true;
    v.srcObject = new MediaStream([t]);
    document.body.replaceChildren(v);
    v.play().catch(() => {});
    window.shown = [];
    const each = (now) => {
      shown.push(now);
      v.requestVideoFrameCallback(each);
    };
    v.requestVideoFrameCallback(each);
    return true;
  }, userId, T);

  // A network change inside the lab: the presenter's (from inside) or the
  // viewer's (watching from inside); the figure is the longest gap between
  // two frames the watcher shows from each change on. pause: between runs.
  const networkChange = async (presenterInside, pause) => {
    const { people } = await createMeeting(server.url, { Host: "webinar_host", Other: presenterInside ? "webinar_host" : "webinar_viewer" });
    const host = await openJoined(outside, server.url, people.Host);
    const other = await openJoined(inside, server.url, people.Other);
    const [presenter, watcher, presenterId] = presenterInside ? [other, host, people.Other.id] : [host, other, people.Host.id];
    await presenter.evaluate(async () => {
      await meeting.self.enableVideo();
      await meeting.stage.join();
    });
    await watch(watcher, presenterId);
    await watcher.waitForFunction(() => shown.length > 30, null, T);
    const gaps = [];
    for (let i = 0; i < runs; i++) {
      const t0 = await watcher.evaluate(() => performance.now());
      lab.readdress();
      await watcher.waitForFunction((t0) => shown.filter((t) => t > t0 + 500).length > 30 &&
        performance.now() - shown.at(-1) < 300, t0, T);
      gaps.push(await watcher.evaluate((t0) => {
        let gap = 0, prev = t0;
        for (const t of shown.filter((t) => t >= t0)) {
          gap = Math.max(gap, t - prev);
          prev = t;
        }
        return gap;
      }, t0));
      await sleep(pause);
    }
    await host.context().close();
    await other.context().close();
    return gaps;
  };
  console.log(line(`network change: longest frame gap (${runs} runs)`, await networkChange(false, 1000), 50));
  console.log(line(`presenter's network change: longest frame gap at the host (${runs} runs)`, await networkChange(true, 3000), 50));

  // Black hole.
  {
    const { people } = await createMeeting(server.url, { Host: "webinar_host", Presenter: "webinar_host" });
    const host = await openJoined(outside, server.url, people.Host);
    const presenter = await openJoined(inside, server.url, people.Presenter);
    const pid = people.Presenter.id;
    await presenter.evaluate(async () => {
      await meeting.self.enableVideo();
      await meeting.stage.join();
    });
    await watch(host, pid);
    const state = (want) => host.waitForFunction(([u, want]) =>
      meeting.participants.joined.toArray().find((p) => p.userId === u)?.reconnecting === want, [pid, want], T);
    const seen = [], back = [];
    for (let i = 0; i < runs; i++) {
      await host.waitForFunction(() => performance.now() - shown.at(-1) < 300, null, T);
      let t = await host.evaluate(() => performance.now());
      lab.blackhole(true);
      await state(true);
      seen.push((await host.evaluate(() => performance.now())) - t);
      await sleep(2000);
      t = await host.evaluate(() => performance.now());
      lab.blackhole(false);
      await state(false);
      back.push((await host.evaluate(() => performance.now())) - t);
      const status = await host.evaluate((u) => meeting.participants.joined.toArray().find((p) => p.userId === u)?.stageStatus, pid);
      if (status !== "ON_STAGE") throw new Error(`the presenter is ${status} after the black hole`);
      await sleep(2000);
    }
    console.log(line(`black hole: host sees it reconnecting (${runs} runs)`, seen, 50));
    console.log(line("black hole lifted: host sees it back", back, 50));
  }
} finally {
  await bench.close();
}
