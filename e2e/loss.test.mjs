// A viewer whose link loses 2% of its packets at random (nftables numgen
// in a link lab, e2e/netlab.mjs) while the presenter sends three layers
// and audio: its video keeps playing (the lost packets are asked for
// again, NACK, and a keyframe when that fails, PLI) and its audio's losses
// are concealed. The figures are printed (make bench-adapt); the test
// checks what happens, not how well.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, createMeeting, launch, openJoined, recordPeerConnections, playVideoOf } from "./lib.mjs";
import { unavailable, makeLab } from "./netlab.mjs";

const skip = unavailable();
let lab, server, browser, labBrowser, hostURL, labURL;
before(async () => {
  if (skip) return;
  lab = makeLab();
  // On every address: the presenter's page on 127.0.0.1 (a secure
  // context: getUserMedia), the viewer's on the lab's host address.
  server = await startServer(["-addr", "0.0.0.0:0"]);
  const port = new URL(server.url).port;
  hostURL = `http://127.0.0.1:${port}`;
  labURL = `http://${lab.hostAddr}:${port}`;
  browser = await launch();
  labBrowser = await lab.launch();
});
after(async () => {
  await labBrowser?.close();
  await browser?.close();
  await server?.stop();
  lab?.close();
});

const lossSecs = Number(process.env.STAGEKIT_LOSS_SECS || 20);

// Page side: plays the user's audio too, and window.received() is the
// page's received audio and video as its stats say (the video stream that
// decoded most).
function recordReceived() {
  window.playAudioOf = (userId) => {
    const t = byUser(userId)?.audioTrack;
    if (!t) return false;
    const a = document.createElement("audio");
    a.autoplay = true;
    a.srcObject = new MediaStream([t]);
    document.body.append(a);
    a.play().catch(() => {});
    return true;
  };
  window.received = async () => {
    const out = { audio: null, video: null };
    for (const pc of pcs) {
      (await pc.getStats()).forEach((r) => {
        if (r.type !== "inbound-rtp") return;
        if (r.kind === "audio" && (!out.audio || r.packetsReceived > out.audio.packets)) {
          out.audio = { packets: r.packetsReceived ?? 0, lost: r.packetsLost ?? 0, samples: r.totalSamplesReceived ?? 0,
            concealed: r.concealedSamples ?? 0, concealments: r.concealmentEvents ?? 0 };
        }
        if (r.kind === "video" && (!out.video || (r.framesDecoded ?? 0) > out.video.frames)) {
          out.video = { frames: r.framesDecoded ?? 0, width: r.frameWidth ?? 0, packets: r.packetsReceived ?? 0,
            nacks: r.nackCount ?? 0, plis: r.pliCount ?? 0,
            keyFrames: r.keyFramesDecoded ?? 0, freezes: r.freezeCount ?? 0, freezeSecs: r.totalFreezesDuration ?? 0 };
        }
      });
    }
    return out;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The server's counter name, from /metrics.
async function counter(name) {
  const text = await (await fetch(hostURL + "/metrics")).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

test("a viewer losing 2% of its packets keeps playing: video recovered, audio concealed", { skip: skip || false, timeout: 120000 + lossSecs * 1000 }, async (t) => {
  const { people } = await createMeeting(hostURL, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await openJoined(browser, hostURL, people.Host, recordPeerConnections);
  const viewer = await openJoined(labBrowser, labURL, people.Viewer, recordPeerConnections, recordReceived);
  await host.evaluate(async () => {
    await meeting.self.enableVideo();
    await meeting.self.enableAudio();
    await meeting.stage.join();
  });
  await playVideoOf(viewer, people.Host.id);
  await viewer.waitForFunction((u) => playAudioOf(u), people.Host.id, { timeout: 15000 });
  const until = Date.now() + 30000;
  let r;
  while (!((r = await viewer.evaluate(() => received())).video?.frames > 30 && r.audio?.samples > 0) && Date.now() < until) await sleep(250);
  assert.ok(r.video?.frames > 30 && r.audio?.samples > 0, `the viewer plays video and audio: ${JSON.stringify(r)}`);

  lab.loss("down", 2);
  const before = await viewer.evaluate(() => received());
  const resent = await counter("stagekit_media_retransmits_total");
  await sleep(lossSecs * 1000);
  const after = await viewer.evaluate(() => received());
  const retransmits = await counter("stagekit_media_retransmits_total") - resent;
  lab.loss("down", 0);

  const d = (kind, k) => after[kind][k] - before[kind][k];
  const figures = `${lossSecs} s at 2% loss: video ${(d("video", "frames") / lossSecs).toFixed(1)} frames/s decoded (${after.video.width} wide), ` +
    `${d("video", "freezes")} freezes (${d("video", "freezeSecs").toFixed(1)} s), ${d("video", "packets")} packets received, ` +
    `${d("video", "nacks")} NACKs, ${retransmits} packets sent again by the server, ${d("video", "plis")} PLIs, ${d("video", "keyFrames")} keyframes; ` +
    `audio ${d("audio", "lost")} of ${d("audio", "packets") + d("audio", "lost")} packets lost, ` +
    `${(100 * d("audio", "concealed") / Math.max(1, d("audio", "samples"))).toFixed(1)}% of its samples concealed (${d("audio", "concealments")} times)`;
  t.diagnostic(`figures: ${figures}`);
  console.log(`# loss figures: ${figures}`);
  // The link lost packets of both: audio's stay lost (video's packetsLost
  // is no measure: it also counts the numbers of the presenter's padding,
  // which the server does not forward); video's are asked for again and
  // sent again, the video kept decoding, the audio kept playing with its
  // gaps filled.
  assert.ok(d("audio", "lost") > 0, `the link lost packets: ${figures}`);
  assert.ok(d("video", "nacks") > 0 && retransmits > 0, `lost video is asked for and sent again: ${figures}`);
  assert.ok(d("video", "frames") > 5 * lossSecs, `video keeps decoding: ${figures}`);
  assert.ok(d("audio", "samples") > 0 && d("audio", "concealed") > 0, `audio keeps playing, its losses concealed: ${figures}`);
  assert.deepEqual([...host.errors, ...viewer.errors].map(String), []);
});
