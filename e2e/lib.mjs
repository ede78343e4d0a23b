// Shared helpers for the browser end-to-end tests: the real server binary,
// its REST API, and Debian's Chromium driven by playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const apiKey = "e2e-admin-key";

/** Starts bin/stageserver on a free loopback port; returns { url, stop }. */
export async function startServer(extraArgs = []) {
  const data = mkdtempSync(join(tmpdir(), "stagekit-e2e-"));
  const proc = spawn(join(root, "bin/stageserver"),
    ["-addr", "127.0.0.1:0", "-api-key", apiKey, "-data", data, "-web", join(root, "web"), "-grace", "2s", ...extraArgs],
    { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not start:\n" + log)), 15000);
    proc.stderr.on("data", (chunk) => {
      log += chunk;
      const m = /url=(http:\/\/[0-9.:]+|http:\/\/\[::\]:[0-9]+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => reject(new Error(`server exited ${code}:\n${log}`)));
  });
  return {
    url,
    log: () => log,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Calls the REST API with the admin key; returns the data envelope. */
export async function rest(url, method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json.data;
}

/** Creates a meeting and participants { name: preset }; returns { meetingId, people: {name: {id, token}} }. */
export async function createMeeting(url, people) {
  const meeting = await rest(url, "POST", "/v1/meetings", { title: "e2e" });
  const out = {};
  for (const [name, preset] of Object.entries(people)) {
    out[name] = await rest(url, "POST", `/v1/meetings/${meeting.id}/participants`, { name, preset_name: preset });
  }
  return { meetingId: meeting.id, people: out };
}

export const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--autoplay-policy=no-user-gesture-required",
];

/** Launches Debian's Chromium headless (extraArgs after the usual ones). */
export function launch(extraArgs = []) {
  return chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...chromiumArgs, ...extraArgs] });
}

/**
 * Chromium's flag that gives a server on a non-loopback address (a link lab's) a secure context, as loopback
 * has: getUserMedia needs one.
 */
export const secureOrigin = (url) => `--unsafely-treat-insecure-origin-as-secure=${url}`;

/**
 * The media tests' page helpers, for page.evaluate once window.meeting is
 * set: watch(track) plays a track in a muted <video> and returns it,
 * frames(video) counts its decoded frames, byUser(userId) is the joined
 * participant of that user.
 */
export function mediaHelpers() {
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
  window.byUser = (userId) => window.meeting.participants.joined.toArray().find((p) => p.userId === userId);
}

/**
 * Page side, for page.evaluate before the SDK makes its connections:
 * window.pcs collects the page's RTCPeerConnections, and window.inbound()
 * is the received video's inbound-rtp that decoded most (width,
 * framesDecoded, freezeCount, freezeSecs, lost, received, nacks, plis; all
 * 0 before any).
 */
export function recordPeerConnections() {
  const Native = RTCPeerConnection;
  window.pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.pcs.push(this);
    }
  };
  window.inbound = async () => {
    let best = null;
    for (const pc of window.pcs) {
      (await pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video" && (!best || (r.framesDecoded ?? 0) > best.framesDecoded)) {
          best = { width: r.frameWidth ?? 0, framesDecoded: r.framesDecoded ?? 0, freezeCount: r.freezeCount ?? 0,
            freezeSecs: r.totalFreezesDuration ?? 0, lost: r.packetsLost ?? 0, received: r.packetsReceived ?? 0,
            nacks: r.nackCount ?? 0, plis: r.pliCount ?? 0, keyFrames: r.keyFramesDecoded ?? 0,
            dropped: r.framesDropped ?? 0, jitterDelay: r.jitterBufferDelay ?? 0, jitterEmitted: r.jitterBufferEmittedCount ?? 0,
            bytes: r.bytesReceived ?? 0 };
        }
      });
    }
    return best ?? { width: 0, framesDecoded: 0, freezeCount: 0, freezeSecs: 0, lost: 0, received: 0, nacks: 0, plis: 0 };
  };
}

/**
 * Page side, for page.evaluate on a publisher's page after
 * recordPeerConnections: window.layerWidths() is the width of each
 * simulcast layer it sends (rid → frameWidth). The encoder may scale a
 * layer down (CPU, uplink), so a viewer's layer is the one whose width it
 * decodes (layerOf).
 */
export function recordLayerWidths() {
  window.layerWidths = async () => {
    const out = {};
    for (const pc of window.pcs) {
      (await pc.getStats()).forEach((r) => {
        if (r.type === "outbound-rtp" && r.kind === "video" && r.rid && r.frameWidth) out[r.rid] = r.frameWidth;
      });
    }
    return out;
  };
}

/** The layer (rid) whose width (of layerWidths()) is closest to width; "" for 0. */
export function layerOf(width, widths) {
  let best = "", d = Infinity;
  for (const [rid, w] of Object.entries(widths)) {
    if (Math.abs(w - width) < d) [best, d] = [rid, Math.abs(w - width)];
  }
  return width > 0 ? best : "";
}

/**
 * Plays userId's video in a muted <video> on page once the page's
 * window.byUser has it (Chromium decodes what is shown).
 */
export async function playVideoOf(page, userId) {
  await page.waitForFunction((u) => {
    const t = byUser(u)?.videoTrack;
    if (!t) return false;
    const v = document.createElement("video");
    v.muted = v.autoplay = v.playsInline = true;
    v.srcObject = new MediaStream([t]);
    document.body.append(v);
    v.play().catch(() => {});
    return true;
  }, userId, { timeout: 15000 });
}

/**
 * Opens a page of the server at url whose meeting (window.meeting) has
 * joined as person, with window.clock() in epoch milliseconds and
 * window.byUser(userId); each of setups is evaluated in the page first
 * (e.g. recordPeerConnections, before the SDK makes its connections).
 */
export async function openJoined(browser, url, person, ...setups) {
  const page = await openPage(browser, url);
  for (const setup of setups) await page.evaluate(setup);
  await page.evaluate(async (authToken) => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    window.meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    window.clock = () => performance.timeOrigin + performance.now();
    window.byUser = (userId) => meeting.participants.joined.toArray().find((p) => p.userId === userId);
  }, person.token);
  return page;
}

/** Opens a page on the server's origin and records uncaught errors. */
export async function openPage(browser, url, path = "/demo/blank.html") {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err));
  page.on("console", (msg) => {
    if (msg.type() === "error") page.errors.push(new Error("console.error: " + msg.text()));
  });
  await page.goto(url + path);
  return page;
}
