// Drives the demo page as a person would: creates a meeting, opens a host and
// a viewer, requests, grants, joins and kicks; checks what each page shows and
// saves screenshots under test-results/demo/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startServer, launch, root } from "./lib.mjs";

const shots = join(root, "test-results", "demo");
let server, browser;
before(async () => {
  mkdirSync(shots, { recursive: true });
  server = await startServer(["-demo"]);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function newPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(err));
  page.on("console", (msg) => {
    if (msg.type() === "error" || /threw/.test(msg.text())) page.errors.push(new Error(msg.text()));
  });
  // A Content-Security-Policy violation anywhere in the page is a failure.
  await page.exposeFunction("__cspViolation", (v) => page.errors.push(new Error(`CSP violation: ${v}`)));
  await page.addInitScript(() => document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolation(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample} on ${location.href.slice(0, 60)}`)));
  return page;
}

const text = (page, sel) => page.locator(sel).innerText();

test("a host and a viewer use the demo page", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const landing = await newPage(context);
  const res = await landing.goto(server.url + "/demo/");
  assert.match(res.headers()["content-security-policy"], /script-src 'self' 'wasm-unsafe-eval'/, "the demo page runs under its CSP");
  await landing.click("#create");
  await landing.waitForSelector("#link-list a");
  const links = await landing.$$eval("#link-list li", (lis) => lis.map((li) => ({
    name: li.querySelector(".title").textContent, preset: li.querySelector(".meta").textContent, href: li.querySelector("a").href,
  })));
  assert.deepEqual(links.map((l) => l.preset), ["webinar_host", "webinar_viewer", "webinar_viewer", "webinar_viewer", "livestream_viewer"]);
  assert.ok(links.every((l) => !l.href.includes("e2e-admin-key")), "the admin key never reaches a page");
  // The page that created the meeting adds a participant (it holds the creator secret).
  await landing.fill("#add-name", "Late viewer");
  await landing.click("#add");
  await landing.waitForSelector("#link-list li:nth-child(6)");
  assert.match(await text(landing, "#link-list li:nth-child(6)"), /Late viewer[\s\S]*webinar_viewer/);
  await landing.screenshot({ path: join(shots, "1-landing.png") });

  const host = await newPage(context);
  await host.goto(links[0].href);
  const viewer = await newPage(context);
  await viewer.goto(links[1].href);
  await host.waitForSelector("#room:not([hidden])");
  await viewer.waitForSelector("#room:not([hidden])");
  assert.equal(await text(host, "#status"), "ACCEPTED_TO_JOIN_STAGE");
  assert.equal(await text(viewer, "#status"), "OFF_STAGE");
  assert.equal(await host.isVisible("#host-panel"), true);
  assert.equal(await viewer.isVisible("#host-panel"), false, "viewers have no request panel");

  await viewer.click("#request");
  await host.waitForSelector("#requests li");
  assert.match(await text(host, "#requests li"), /Viewer 1[\s\S]*waiting \d+s/);
  // The viewer's page hears of its own request on its own socket: maybe a
  // moment after the host's did (once, under make test's load, not yet).
  await viewer.waitForFunction(() => document.querySelector("#status").textContent === "REQUESTED_TO_JOIN_STAGE");
  await host.screenshot({ path: join(shots, "2-host-request.png") });

  // The viewer turns its (fake) camera on before going on stage.
  await viewer.click("#camera");
  await viewer.waitForFunction(() => document.querySelector("#camera").textContent === "Camera on");
  await host.click("#requests li button:has-text('Grant')");
  await viewer.waitForSelector("#join:not([disabled])");
  assert.equal(await text(viewer, "#status"), "ACCEPTED_TO_JOIN_STAGE");
  await viewer.click("#join");
  await viewer.waitForFunction(() => document.querySelector("#status").textContent === "ON_STAGE");
  await host.waitForSelector(".tile:has-text('Viewer 1')");
  // The host's page decodes the viewer's video in its tile.
  await host.waitForFunction(() => {
    const v = document.querySelector(".tile video");
    return v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 0;
  }, null, { timeout: 15000 });
  assert.match(await text(host, "#participants"), /ON_STAGE/);

  // The host comes on stage too, with its camera: both pages show both tiles.
  await host.click("#camera");
  await host.waitForFunction(() => document.querySelector("#camera").textContent === "Camera on");
  await host.click("#join");
  await host.waitForFunction(() => document.querySelector("#status").textContent === "ON_STAGE");
  const twoVideos = () => {
    const videos = [...document.querySelectorAll(".tile video")];
    return videos.length === 2 && videos.every((v) => v.videoWidth > 0);
  };
  await host.waitForFunction(twoVideos, null, { timeout: 15000 });
  await viewer.waitForFunction(twoVideos, null, { timeout: 15000 });
  await host.screenshot({ path: join(shots, "3-host-and-viewer-on-stage.png") });
  await viewer.screenshot({ path: join(shots, "4-viewer-sees-both.png") });

  await host.click("#participants button:has-text('Remove from stage')");
  await viewer.waitForFunction(() => document.querySelector("#status").textContent === "OFF_STAGE");
  await host.waitForFunction(() => document.querySelectorAll(".tile").length === 1, null, { timeout: 10000 });
  assert.match(await text(host, ".tiles"), /Host/);
  assert.equal(await text(viewer, "#camera"), "Camera off", "a kick releases the camera");
  assert.match(await text(viewer, "#log"), /stageStatusUpdate "OFF_STAGE"/);
  await viewer.screenshot({ path: join(shots, "5-viewer-kicked.png") });

  // An error is shown, not thrown: the watcher cannot request.
  const watcher = await newPage(context);
  await watcher.goto(links[4].href);
  await watcher.waitForSelector("#room:not([hidden])");
  assert.equal(await watcher.isVisible("#request"), false, "NOT_ALLOWED users get no request button");

  for (const page of [landing, host, viewer, watcher]) assert.deepEqual(page.errors, []);
  await context.close();
});
