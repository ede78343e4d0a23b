// Benchmark: what pacing buys a viewer behind a shallow queue. A presenter
// sends three simulcast layers from one Chromium; a viewer in another
// Chromium inside a link lab (scripts/netlab.sh; needs root) has its
// downlink limited by a token bucket with a shallow queue (tc tbf, a
// bucket of BURST bytes and a queue of LIMIT bytes: a few packets, as on
// some cellular and Wi-Fi paths). The same run is made against a server
// started with -pacing and one without (the default), alternating;
// each prints what the viewer's Chromium saw over the measured seconds:
// packets lost (after retransmissions: packetsLost), freezes (freezeCount),
// frames decoded per second, NACKs and PLIs it sent, and the layer (width)
// it ended on.
//
//   node bench/browser-media/pacing.mjs
//
// Environment: BENCH_RUNS (runs of each, 2), BENCH_PACING_RATE (2mbit),
// BENCH_PACING_BURST and BENCH_PACING_LIMIT (bytes: 3000 and 6000),
// BENCH_PACING_SECONDS (measured, 40). Needs `make build` first.
import { startServer, createMeeting, launch, recordPeerConnections, playVideoOf } from "../../e2e/lib.mjs";
import { openJoined } from "./lib.mjs";
import { unavailable, makeLab } from "../../e2e/netlab.mjs";

const skip = unavailable();
if (skip) {
  console.log(`pacing benchmark skipped: ${skip}`);
  process.exit(0);
}
const runs = Number(process.env.BENCH_RUNS || 2);
const rate = process.env.BENCH_PACING_RATE || "2mbit";
const burst = process.env.BENCH_PACING_BURST || "3000";
const limit = process.env.BENCH_PACING_LIMIT || "6000";
const seconds = Number(process.env.BENCH_PACING_SECONDS || 40);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function once(paced) {
  const lab = makeLab();
  const debug = process.env.BENCH_PACING_DEBUG ? ["-log-level", "debug"] : [];
  const server = await startServer(["-addr", "0.0.0.0:0", ...debug, ...(paced ? ["-pacing"] : [])]);
  const port = new URL(server.url).port;
  const browser = await launch();
  const labBrowser = await lab.launch();
  try {
    const { people } = await createMeeting(`http://127.0.0.1:${port}`, { Host: "webinar_host", Viewer: "webinar_viewer" });
    const host = await openJoined(browser, `http://127.0.0.1:${port}`, people.Host, recordPeerConnections);
    const viewer = await openJoined(labBrowser, `http://${lab.hostAddr}:${port}`, people.Viewer, recordPeerConnections);
    await host.evaluate(async () => {
      await meeting.self.enableVideo();
      await meeting.self.enableAudio();
      await meeting.stage.join();
    });
    await playVideoOf(viewer, people.Host.id);
    await viewer.waitForFunction(async () => (await inbound())?.framesDecoded > 30, null, { timeout: 30000 });
    lab.shape("down", rate, burst, limit);
    await sleep(5000); // the estimate settles
    const a = await viewer.evaluate(() => inbound());
    await sleep(seconds * 1000);
    const b = await viewer.evaluate(() => inbound());
    const d = (k) => b[k] - a[k];
    return { lost: d("lost"), received: d("received"), freezes: d("freezeCount"), freezeSecs: d("freezeSecs"),
      fps: d("framesDecoded") / seconds, nacks: d("nacks"), plis: d("plis"), width: b.width };
  } finally {
    if (debug.length) console.log(server.log().split("\n").filter((l) => /simulcast layer|probe train|paced/.test(l)).join("\n"));
    await labBrowser.close();
    await browser.close();
    await server.stop();
    lab.close();
  }
}

const fmt = (r) => `lost ${r.lost} of ${r.lost + r.received} (${(100 * r.lost / Math.max(1, r.lost + r.received)).toFixed(2)}%), ` +
  `${r.freezes} freezes (${r.freezeSecs.toFixed(1)} s), ${r.fps.toFixed(1)} frames/s, ${r.nacks} NACKs, ${r.plis} PLIs, width ${r.width}`;
console.log(`pacing: a viewer behind tbf rate ${rate} burst ${burst} B limit ${limit} B, ${seconds} s measured, ${runs} runs each, alternating`);
for (let i = 0; i < runs; i++) {
  for (const paced of [false, true]) {
    const r = await once(paced);
    console.log(`  ${paced ? "paced  " : "unpaced"} run ${i + 1}: ${fmt(r)}`);
  }
}
