// Cloudflare's whole meeting UI, as published (@cloudflare/realtimekit-ui
// 2.0.2 loaded with its loader's defineCustomElements(), as its docs show),
// on plain StageKit meetings served by the real server, in Chromium with
// fake devices and a fake screen:
//   - <rtk-meeting> in a host page and a viewer page runs the webinar flow
//     through the kit's own controls: setup screen → join → the host joins
//     the stage → the viewer requests → the host accepts in the Requests tab
//     → the viewer joins → camera and mic on → the host sees the video and
//     hears the audio → the viewer shares its screen → the host sees it →
//     the host removes the viewer from the stage, with no page error;
//   - the kit's standalone components render on a StageKit meeting.
// The kit fetches a web font (Google Fonts) and its sounds (speaker test,
// notifications) from outside servers by itself; the tests answer every
// https request empty (no outside network here).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, createMeeting, root, chromiumArgs } from "./lib.mjs";

let server, browser, web;
before(async () => {
  web = mkdtempSync(join(tmpdir(), "stagekit-meeting-"));
  mkdirSync(join(web, "sdk"));
  for (const f of readdirSync(join(root, "web/sdk"))) symlinkSync(join(root, "web/sdk", f), join(web, "sdk", f));
  mkdirSync(join(web, "demo"));
  for (const f of ["meeting.html", "components.html"]) copyFileSync(join(root, "e2e/fixtures/uikit", f), join(web, "demo", f));
  symlinkSync(join(root, "node_modules/@cloudflare/realtimekit-ui"), join(web, "demo/rtkui"));
  server = await startServer(["-web", web]);
  // A fake screen for getDisplayMedia: Chromium's fake capture, picked
  // without a dialog.
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: [...chromiumArgs, "--auto-select-desktop-capture-source=Entire screen", "--enable-usermedia-screen-capturing"] });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (web) rmSync(web, { recursive: true, force: true });
});

// openKit opens a kit page for token in its own browser context; it records
// page errors (uncaught exceptions, unhandled rejections, console.error)
// and the media elements the page plays.
async function openKit(path, token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  await context.route(/^https:\/\//, (r) => r.fulfill({ status: 200, body: "" }));
  await context.addInitScript(() => {
    window.played = [];
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function () {
      window.played.push(this);
      return play.call(this);
    };
  });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err));
  page.on("console", (msg) => {
    if (msg.type() === "error") page.errors.push(new Error("console.error: " + msg.text()));
  });
  await page.goto(`${server.url}/demo/${path}?token=${token}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  return page;
}

// until waits for fn(arg) in the page; fails with what the page shows.
// until waits for fn(arg) in page; on a timeout it fails with what, and
// with state(arg) evaluated in the page if given.
async function until(page, what, fn, arg, state) {
  try {
    await page.waitForFunction(fn, arg, { timeout: 20000 });
  } catch {
    const seen = state ? JSON.stringify(await page.evaluate(state, arg)) : "";
    assert.fail(`${what}: did not happen; page errors ${page.errors.map(String)}; stage ${await page.evaluate(() => meeting.stage.status)} ${seen}`);
  }
}

// Deep query and the text an element renders, through shadow roots,
// installed in the page by the tests.
const deepQuery = () => {
  window.deepAll = (selector, root = document) => {
    const out = [...root.querySelectorAll(selector)];
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) out.push(...window.deepAll(selector, el.shadowRoot));
    return out;
  };
  const text = (node) => {
    let s = "";
    for (const r of [node.shadowRoot, node].filter(Boolean)) {
      for (const c of r.childNodes) {
        if (c.nodeType === Node.TEXT_NODE) s += c.textContent;
        else if (c.nodeType === Node.ELEMENT_NODE && c.tagName !== "STYLE") s += " " + text(c);
      }
    }
    return s;
  };
  window.renderedText = (el) => text(el).replace(/\s+/g, " ").trim();
  // A <video> in the page showing the track (by id) with frames decoded.
  window.showsVideo = (trackId) =>
    window.deepAll("video").some((v) => v.srcObject?.getVideoTracks?.()[0]?.id === trackId && v.videoWidth > 0 && v.readyState >= 2);
};

test("<rtk-meeting>: the whole webinar flow through the kit's own controls", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await openKit("meeting.html", people.Host.token);
  const viewer = await openKit("meeting.html", people.Viewer.token);
  for (const p of [host, viewer]) await p.evaluate(deepQuery);

  // Setup screens, then Join: the host (ALLOWED) is asked to join the stage.
  for (const p of [host, viewer]) {
    await p.locator("rtk-setup-screen rtk-button").click();
    await until(p, "joined", () => meeting.self.roomJoined === true);
  }
  await host.locator("rtk-join-stage rtk-button").nth(1).click();
  await until(host, "host on stage", () => meeting.stage.status === "ON_STAGE");
  // The header: the meeting's title, the participant count and the clock.
  await until(host, "header", () => /e2e/.test(renderedText(deepAll("rtk-meeting-title")[0] ?? document.body)));

  // The viewer requests with the kit's stage toggle in the control bar.
  assert.equal(await viewer.locator("rtk-controlbar rtk-camera-toggle").first().isVisible(), false, "a camera toggle off stage");
  assert.deepEqual(await viewer.evaluate(() => {
    window.patches = [];
    meeting.self.permissions.on("permissionsUpdate", (patch) => patches.push(patch));
    const p = meeting.self.permissions;
    return [p.canProduceAudio, p.canProduceVideo, p.canProduceScreenshare];
  }), ["CAN_REQUEST", "CAN_REQUEST", "CAN_REQUEST"]);
  await viewer.locator("rtk-controlbar rtk-stage-toggle").first().click();
  await until(viewer, "requested", () => meeting.stage.status === "REQUESTED_TO_JOIN_STAGE");

  // The host accepts in the participants panel's Requests tab.
  await host.locator("rtk-controlbar rtk-participants-toggle").first().click();
  await host.locator("rtk-sidebar").getByText("Requests").click();
  await host.locator("rtk-participants-stage-queue rtk-icon.accept").click();
  await until(viewer, "accepted", () => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE");
  // RealtimeKit's stage-aware permissions: accepted, the viewer may produce.
  assert.deepEqual(await viewer.evaluate(() => patches), [
    { media: { audio: { canProduce: "ALLOWED" }, video: { canProduce: "ALLOWED" }, screenshare: { canProduce: "ALLOWED" } } },
  ]);

  // The kit opens the viewer's join dialog; the viewer joins.
  await viewer.locator("rtk-join-stage rtk-button").nth(1).click();
  await until(viewer, "viewer on stage", () => meeting.stage.status === "ON_STAGE");

  // Camera and mic through the kit's toggles (shown now: canProduce* are ALLOWED on stage).
  await viewer.locator("rtk-controlbar rtk-camera-toggle").first().click();
  await viewer.locator("rtk-controlbar rtk-mic-toggle").first().click();
  await until(viewer, "camera and mic on", () => meeting.self.videoEnabled && meeting.self.audioEnabled);
  assert.deepEqual(await viewer.evaluate(() => meeting.self.mediaPermissions), { audio: "ACCEPTED", video: "ACCEPTED", screenshare: "NOT_REQUESTED" });

  // The host sees the video in the kit's grid and hears the audio: the
  // kit's audio player plays the viewer's track, and it carries sound.
  const viewerPeer = await viewer.evaluate(() => meeting.self.id);
  await until(host, "the viewer's video in a tile", (peer) => {
    const p = meeting.participants.joined.get(peer);
    return p?.videoTrack && showsVideo(p.videoTrack.id);
  }, viewerPeer);
  await until(host, "the kit plays the viewer's audio", (peer) => {
    const t = meeting.participants.joined.get(peer)?.audioTrack;
    return t && window.played.some((el) => !el.paused && el.srcObject?.getAudioTracks?.().some((a) => a.id === t.id));
  }, viewerPeer);
  const level = await host.evaluate(async (peer) => {
    const t = meeting.participants.joined.get(peer).audioTrack;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(new MediaStream([t])).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    let peak = 0;
    for (let i = 0; i < 100 && peak <= 0.01; i++) {
      await new Promise((r) => setTimeout(r, 100));
      analyser.getFloatTimeDomainData(buf);
      for (const x of buf) peak = Math.max(peak, Math.abs(x));
    }
    await ctx.close();
    return peak;
  }, viewerPeer);
  assert.ok(level > 0.01, `the viewer's audio at the host peaks at ${level}`);

  // The viewer shares its screen with the kit's toggle; the host's grid
  // shows it (the kit's screen-share view).
  await viewer.locator("rtk-controlbar rtk-screen-share-toggle").first().click();
  await until(viewer, "sharing", () => meeting.self.screenShareEnabled === true);
  await until(host, "the viewer's screen in the kit's screen-share view", (peer) => {
    const p = meeting.participants.joined.get(peer);
    const t = p?.screenShareTracks?.video;
    return p.screenShareEnabled && t && deepAll("rtk-screenshare-view").length > 0 && showsVideo(t.id);
  }, viewerPeer);

  // The host removes the viewer from the stage with the kit's participant menu.
  await host.locator("rtk-participants").getByText("Participants", { exact: false }).first().click();
  await host.locator("rtk-participants-stage-list rtk-participant", { hasText: "Viewer" }).locator("#trigger").click();
  await host.locator("rtk-participants-stage-list rtk-menu-item", { hasText: "Remove from stage" }).click();
  await until(viewer, "viewer off stage", () => meeting.stage.status === "OFF_STAGE" && !meeting.self.screenShareEnabled && !meeting.self.videoEnabled);
  await until(host, "the viewer's media gone", (peer) => {
    const p = meeting.participants.joined.get(peer);
    return !p || (!p.videoTrack && !p.screenShareEnabled && deepAll("rtk-screenshare-view").length === 0);
  }, viewerPeer, (peer) => {
    const p = meeting.participants.joined.get(peer);
    return p && { videoTrack: p.videoTrack?.readyState ?? null, videoEnabled: p.videoEnabled, screenShareEnabled: p.screenShareEnabled,
      screenShareVideo: p.screenShareTracks?.video?.readyState ?? null, screenShareViews: deepAll("rtk-screenshare-view").length, stage: p.stageStatus };
  });
  // Off stage again, the kit hides the viewer's camera toggle (canProduceVideo is no longer ALLOWED).
  await viewer.locator("rtk-controlbar rtk-camera-toggle").first().waitFor({ state: "hidden", timeout: 20000 });

  assert.deepEqual(host.errors.map(String), [], "host page errors");
  assert.deepEqual(viewer.errors.map(String), [], "viewer page errors");
  for (const p of [host, viewer]) await p.evaluate(() => meeting.leave());
});

test("the kit's standalone components render on a StageKit meeting", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host" });
  const page = await openKit("components.html", people.Host.token);
  await page.evaluate(deepQuery);
  const rendered = await page.evaluate(() =>
    Object.fromEntries(window.tags.map((t) => {
      const el = document.getElementById(t);
      return [t, { shadow: (el.shadowRoot?.childElementCount ?? 0) > 0, text: renderedText(el) }];
    })));
  for (const [tag, r] of Object.entries(rendered)) assert.ok(r.shadow, `${tag} rendered nothing`);
  assert.match(rendered["rtk-meeting-title"].text, /e2e/);
  assert.match(rendered["rtk-participant-count"].text, /1/);
  await until(page, "the clock ticking", () => /\d\d:\d\d/.test(renderedText(document.getElementById("rtk-clock"))));
  assert.match(rendered["rtk-screen-share-toggle"].text, /Stop Sharing/i);
  assert.match(rendered["rtk-leave-button"].text, /Leave/i);
  await until(page, "the screen in rtk-screenshare-view", () =>
    document.getElementById("rtk-screenshare-view").shadowRoot.querySelector("video")?.videoWidth > 0);
  await until(page, "the camera in rtk-participant-tile", () => showsVideo(meeting.self.videoTrack.id));
  assert.deepEqual(page.errors.map(String), [], "page errors");
  await page.evaluate(() => meeting.leave());
});
