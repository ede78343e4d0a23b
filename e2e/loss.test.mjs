// A viewer on a lossy link: a presenter sends its camera (three layers)
// and microphone from one Chromium; a viewer in another Chromium inside a
// link lab (e2e/netlab.mjs) loses 2% of the UDP packets sent to it, at
// random (nftables numgen). Its video keeps playing (the server answers
// its NACKs from the source's history, its PLIs become keyframe requests)
// and its audio's losses are concealed (Opus has no retransmission here:
// NetEq fills the gaps). The figures are printed (STAGEKIT_LOSS_HOLD_SECS
// sets how long the loss lasts: 20 s, make bench-adapt 60 s); the test
// checks what happens, with generous bounds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createMeeting, openJoined, recordPeerConnections, playVideoOf } from "./lib.mjs";
import { presenterAndLab } from "./netlab.mjs";

const env = presenterAndLab();

const holdSecs = Number(process.env.STAGEKIT_LOSS_HOLD_SECS || 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Page side: the received audio's inbound-rtp (what NetEq played and
// concealed), beside window.inbound()'s video.
function recordAudio() {
  window.inboundAudio = async () => {
    let best = null;
    for (const pc of window.pcs) {
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "audio" && (!best || (r.totalSamplesReceived ?? 0) > best.samples)) {
          best = { samples: r.totalSamplesReceived ?? 0, concealed: r.concealedSamples ?? 0, events: r.concealmentEvents ?? 0,
            lost: r.packetsLost ?? 0, received: r.packetsReceived ?? 0 };
        }
      });
    }
    return best ?? { samples: 0, concealed: 0, events: 0, lost: 0, received: 0 };
  };
}

// The server's counters of packets sent again and of NACKed packets not
// sent again (resend.go), from /metrics.
async function retransmits() {
  const text = await (await fetch(env.hostURL + "/metrics")).text();
  const count = (name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return { sent: count("stagekit_media_retransmits_total"), refused: count("stagekit_media_retransmits_refused_total") };
}

test("a viewer losing 2% of its packets keeps playing video, its audio's losses concealed", { skip: env.skip || false, timeout: 120000 + holdSecs * 1000 }, async (t) => {
  const { people } = await createMeeting(env.hostURL, { Host: "webinar_host", Lossy: "webinar_viewer" });
  const host = await openJoined(env.browser, env.hostURL, people.Host, recordPeerConnections);
  const viewer = await openJoined(env.labBrowser, env.labURL, people.Lossy, recordPeerConnections, recordAudio);
  await host.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.self.enableAudio();
    await meeting.stage.join();
  });
  await playVideoOf(viewer, people.Host.id);
  // The audio plays (NetEq is pulled only by a sink).
  await viewer.waitForFunction((u) => {
    const t = byUser(u)?.audioTrack;
    if (!t) return false;
    const a = document.createElement("audio");
    a.autoplay = true;
    a.srcObject = new MediaStream([t]);
    document.body.append(a);
    a.play().catch(() => {});
    return true;
  }, people.Host.id, { timeout: 15000 });
  await viewer.waitForFunction(async () => (await inbound()).framesDecoded > 20 && (await inboundAudio()).samples > 48000, null, { timeout: 30000, polling: 250 });

  const v0 = await viewer.evaluate(() => inbound());
  const a0 = await viewer.evaluate(() => inboundAudio());
  const r0 = await retransmits();
  env.lab.loss("down", 2);
  await sleep(holdSecs * 1000);
  const v1 = await viewer.evaluate(() => inbound());
  const a1 = await viewer.evaluate(() => inboundAudio());
  const r1 = await retransmits();
  env.lab.loss("down", 0);

  const d = (a, b, k) => b[k] - a[k];
  const fps = d(v0, v1, "framesDecoded") / holdSecs;
  const freezes = d(v0, v1, "freezeCount");
  const concealedPct = 100 * d(a0, a1, "concealed") / Math.max(1, d(a0, a1, "samples"));
  const audioLost = d(a0, a1, "lost"), audioPackets = d(a0, a1, "received") + audioLost;
  t.diagnostic(`figures: ${holdSecs} s at 2% loss: video ${fps.toFixed(1)} frames/s decoded, ${freezes} freezes ` +
    `(${(freezes * 60 / holdSecs).toFixed(1)}/min), ${d(v0, v1, "nacks")} NACKs, ${d(v0, v1, "plis")} PLIs, ${r1.sent - r0.sent} packets sent again (${r1.refused - r0.refused} NACKed ones not); ` +
    `audio ${audioLost} of ${audioPackets} packets lost (${(100 * audioLost / Math.max(1, audioPackets)).toFixed(1)}%), ` +
    `${d(a0, a1, "events")} concealment events, ${concealedPct.toFixed(1)}% of its samples concealed, ` +
    `${(d(a0, a1, "samples") / holdSecs / 1000).toFixed(1)} k samples/s played`);
  console.log(`# loss figures: fps=${fps.toFixed(1)} freezes=${freezes}/${holdSecs}s nacks=${d(v0, v1, "nacks")} resent=${r1.sent - r0.sent} refused=${r1.refused - r0.refused} ` +
    `audio_lost=${audioLost}/${audioPackets} concealed=${concealedPct.toFixed(1)}%`);

  // Video: it keeps decoding, and what it lost was asked for and sent
  // again.
  assert.ok(fps > 10, `video decoded at ${fps.toFixed(1)} frames/s under 2% loss`);
  assert.ok(d(v0, v1, "nacks") > 0 && r1.sent > r0.sent, `losses asked for (${d(v0, v1, "nacks")} NACKs) and sent again (${r1.sent - r0.sent})`);
  // Audio: it lost packets, and played on with the gaps filled.
  assert.ok(audioLost > 0 && d(a0, a1, "events") > 0, `audio losses (${audioLost}) concealed (${d(a0, a1, "events")} events)`);
  assert.ok(d(a0, a1, "samples") > holdSecs * 40000, `audio played: ${d(a0, a1, "samples")} samples in ${holdSecs} s`);
  assert.ok(concealedPct < 10, `${concealedPct.toFixed(1)}% of the audio concealed`);
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});
