// Benchmark: what pacing buys a viewer behind a shallow queue. A presenter
// sends three simulcast layers from one Chromium; a viewer in another
// Chromium inside a link lab (scripts/netlab.sh; needs root) has its
// downlink limited by a token bucket with a shallow queue (tc tbf, a
// bucket of BURST bytes and a queue of LIMIT bytes: a few packets, as on
// some cellular and Wi-Fi paths). The same run is made against a server
// started with -pacing=true and one with -pacing=false, alternating;
// each prints, over the measured seconds, what the viewer's Chromium saw:
// packets lost (packetsLost, after retransmissions; it also counts the
// numbers of the presenter's padding-only packets, which the server does
// not forward: not a loss of media), freezes (freezeCount),
// frames decoded per second, NACKs and PLIs it sent, and the layer (width)
// it ended on; and where packets were lost on the way: dropped by the
// link's full queue (the tbf's own count), by the viewer's full socket
// buffer (UDP RcvbufErrors in the lab: a Chromium starved of CPU), and by
// the server when it fell behind (stagekit_media_packets_shed_total); and
// the copies the pacer held back, those its full queue sent ahead of the
// pace (stagekit_media_packets_pace_overflow_total) and the
// retransmissions the server sent.
//
//   node bench/browser-media/pacing.mjs
//
// Environment: BENCH_RUNS (runs of each, 2), BENCH_PACING_RATE (2mbit),
// BENCH_PACING_BURST and BENCH_PACING_LIMIT (bytes: 3000 and 6000),
// BENCH_PACING_SECONDS (measured, 40), BENCH_PACING_ONLY (paced or
// unpaced: only those runs), BENCH_PACING_DEBUG (the server's debug log:
// its layer switches and probe trains are printed). A run in which the
// viewer's video got no packet says why (blank): the viewer's connections
// and every stream it receives, and what the server received and sent.
// Needs `make build` first.
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
  let blank = false;
  const lab = makeLab();
  const debug = process.env.BENCH_PACING_DEBUG ? ["-log-level", "debug"] : [];
  const server = await startServer(["-addr", "0.0.0.0:0", ...debug, paced ? "-pacing=true" : "-pacing=false"]);
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
    const counts = async () => ({ video: await viewer.evaluate(videoStreams), ...await serverCounts(port),
      linkDrops: lab.drops("down"), bufferDrops: rcvbufErrors(lab), streams: await viewer.evaluate(streams) });
    const a = await counts();
    await sleep(seconds * 1000);
    const b = await counts();
    // The video stream measured is the one that decoded most in the
    // measured time (window.inbound's, the most decoded ever, would go on
    // showing an old stream that stopped, had the video moved to another).
    const zero = { width: 0, framesDecoded: 0, freezeCount: 0, freezeSecs: 0, lost: 0, received: 0, nacks: 0, plis: 0 };
    const delta = (key) => Object.fromEntries(Object.keys(zero).map((k) => [k, b.video[key][k] - (a.video[key] ?? zero)[k]]));
    let key = null;
    for (const k of Object.keys(b.video)) {
      const dk = delta(k), dbest = key && delta(key);
      if (!key || dk.framesDecoded > dbest.framesDecoded || dk.framesDecoded === dbest.framesDecoded && dk.received > dbest.received) key = k;
    }
    const v = key ? delta(key) : zero;
    const d = (k) => b[k] - a[k];
    const r = { lost: v.lost, received: v.received, freezes: v.freezeCount, freezeSecs: v.freezeSecs,
      fps: v.framesDecoded / seconds, nacks: v.nacks, plis: v.plis, width: key ? b.video[key].width : 0,
      linkDrops: d("linkDrops"), bufferDrops: d("bufferDrops"), serverShed: d("serverShed"),
      paced: d("paced"), paceOverflow: d("paceOverflow"), retransmits: d("retransmits") };
    if (Object.keys(b.video).length !== 1 || !(key in a.video)) {
      r.note = `the viewer's video streams: before ${Object.keys(a.video).join(", ")}; after ${Object.keys(b.video).join(", ")}`;
    }
    if (r.received <= 0 || r.fps === 0) {
      blank = true;
      r.blank = `server received ${d("packetsIn")}, sent ${d("packetsOut")} copies; ` +
        `viewer before: ${a.streams}; after: ${b.streams}`;
    }
    return r;
  } finally {
    if (debug.length || blank) {
      const lines = server.log().split("\n");
      console.log((blank ? lines : lines.filter((l) => /simulcast layer|probe train|paced/.test(l))).join("\n"));
    }
    await labBrowser.close();
    await browser.close();
    await server.stop();
    lab.close();
  }
}

// serverCounts reads the server's counters that say where packets went.
async function serverCounts(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const get = (name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return { packetsIn: get("stagekit_media_packets_in_total"), packetsOut: get("stagekit_media_packets_forwarded_total"),
    paced: get("stagekit_media_packets_paced_total"), paceOverflow: get("stagekit_media_packets_pace_overflow_total"),
    serverShed: get("stagekit_media_packets_shed_total"), retransmits: get("stagekit_media_retransmits_total") };
}

// videoStreams (page side) is every video stream the page receives, by
// connection and SSRC: what window.inbound() tells of one.
async function videoStreams() {
  const out = {};
  for (const [i, pc] of window.pcs.entries()) {
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "video") {
        out[`pc${i}/${r.ssrc}`] = { width: r.frameWidth ?? 0, framesDecoded: r.framesDecoded ?? 0, freezeCount: r.freezeCount ?? 0,
          freezeSecs: r.totalFreezesDuration ?? 0, lost: r.packetsLost ?? 0, received: r.packetsReceived ?? 0,
          nacks: r.nackCount ?? 0, plis: r.pliCount ?? 0 };
      }
    });
  }
  return out;
}

// streams (page side) lists the page's connections (their state) and
// every stream they receive (kind, SSRC, packets received, frames decoded).
async function streams() {
  const out = [];
  for (const pc of window.pcs) {
    const rs = [];
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp") rs.push(`${r.kind} ${r.ssrc} ${r.packetsReceived} pkts ${r.framesDecoded ?? "-"} frames`);
    });
    out.push(`pc ${pc.connectionState}/${pc.iceConnectionState} [${rs.join(", ")}]`);
  }
  return out.join("; ");
}

// rcvbufErrors is the lab's count of UDP datagrams its sockets' full
// receive buffers dropped.
function rcvbufErrors(lab) {
  const udp = lab.exec("cat", "/proc/net/snmp").split("\n").filter((l) => l.startsWith("Udp:"));
  const names = udp[0].split(/\s+/), values = udp[1].split(/\s+/);
  return Number(values[names.indexOf("RcvbufErrors")]);
}

const fmt = (r) => `lost ${r.lost} of ${r.lost + r.received} (${(100 * r.lost / Math.max(1, r.lost + r.received)).toFixed(2)}%), ` +
  `${r.freezes} freezes (${r.freezeSecs.toFixed(1)} s), ${r.fps.toFixed(1)} frames/s, ${r.nacks} NACKs, ${r.plis} PLIs, width ${r.width}; ` +
  `dropped by the link ${r.linkDrops}, by the viewer's socket buffer ${r.bufferDrops}, by the server behind ${r.serverShed}; ` +
  `paced ${r.paced}, ahead of the pace ${r.paceOverflow}, retransmitted ${r.retransmits}` +
  (r.note ? `\n    NOTE: ${r.note}` : "") + (r.blank ? `\n    BLANK: ${r.blank}` : "");
const only = process.env.BENCH_PACING_ONLY;
console.log(`pacing: a viewer behind tbf rate ${rate} burst ${burst} B limit ${limit} B, ${seconds} s measured, ${runs} runs each, alternating`);
for (let i = 0; i < runs; i++) {
  for (const paced of [false, true]) {
    if (only && only !== (paced ? "paced" : "unpaced")) continue;
    const r = await once(paced);
    console.log(`  ${paced ? "paced  " : "unpaced"} run ${i + 1}: ${fmt(r)}`);
  }
}
