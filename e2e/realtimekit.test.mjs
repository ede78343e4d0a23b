// Code nobody here wrote, as published on npm, on StageKit meetings served by
// the real server:
//   - Cloudflare's UI kit (@cloudflare/realtimekit-ui 2.0.2, its
//     dist/components) in a host page and a viewer page: request (the kit's
//     stage toggle) → accept (the kit's queue button) → join (the kit's join
//     dialog) → leave (the toggle), then invite and remove (the kit's
//     participant menu), asserting what the components render at each step
//     and that neither page has an error;
//   - @cloudflare/realtimekit-react 2.0.2's RealtimeKitProvider and
//     useRealtimeKitSelector((m) => m.stage.status) following a grant, and
//     the same app on stagekit/realtimekit-react.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuild from "esbuild";
import { startServer, createMeeting, launch, openPage, root } from "./lib.mjs";

let server, browser, web;
before(async () => {
  // A web root for the server: the SDK's files (and the React bundles beside
  // them, so that the loader finds its wasm), the test pages, and the kit's
  // published components under /demo/rtk/.
  web = mkdtempSync(join(tmpdir(), "stagekit-rtk-"));
  mkdirSync(join(web, "sdk"));
  for (const f of readdirSync(join(root, "web/sdk"))) symlinkSync(join(root, "web/sdk", f), join(web, "sdk", f));
  mkdirSync(join(web, "demo"));
  for (const f of ["host.html", "viewer.html", "page.js"]) copyFileSync(join(root, "e2e/fixtures/uikit", f), join(web, "demo", f));
  symlinkSync(join(root, "node_modules/@cloudflare/realtimekit-ui/dist/components"), join(web, "demo/rtk"));
  server = await startServer(["-web", web]);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  if (web) rmSync(web, { recursive: true, force: true });
});

// The text a component renders, through its shadow roots and its children's
// (window.renderedText, which kitPage installs in the page).
function rendered(page, id) {
  return page.evaluate((id) => window.renderedText(id), id);
}

// Waits until the component's text matches re; fails with what it shows.
async function shows(page, id, re) {
  try {
    await page.waitForFunction(
      ([id, src]) => {
        const text = window.renderedText(id);
        return text !== null && new RegExp(src).test(text);
      },
      [id, re.source],
      { timeout: 10000 },
    );
  } catch {
    assert.fail(`${id} shows ${JSON.stringify(await rendered(page, id))}, want ${re}`);
  }
}

const status = (page) => page.evaluate(() => meeting.stage.status);
const toggleDisabled = (page) => page.evaluate(() => document.getElementById("rtk-stage-toggle").shadowRoot.querySelector("rtk-controlbar-button").disabled);

async function kitPage(path, token) {
  const page = await openPage(browser, server.url, `/demo/${path}?token=${token}`);
  await page.evaluate(() => {
    const text = (node) => {
      let s = "";
      for (const root of [node.shadowRoot, node].filter(Boolean)) {
        for (const c of root.childNodes) {
          if (c.nodeType === Node.TEXT_NODE) s += c.textContent;
          else if (c.nodeType === Node.ELEMENT_NODE && c.tagName !== "STYLE") s += " " + text(c);
        }
      }
      return s;
    };
    window.renderedText = (id) => {
      const el = document.getElementById(id);
      return el ? text(el).replace(/\s+/g, " ").trim() : null;
    };
  });
  await page.waitForFunction(() => window.ready === true, null, { timeout: 20000 });
  return page;
}

test("Cloudflare's UI kit runs the stage flow on StageKit meetings", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const host = await kitPage("host.html", people.Host.token);
  const viewer = await kitPage("viewer.html", people.Viewer.token);

  // Before: the host (ALLOWED) sees its toggle (disabled: it is accepted
  // already), no requests, nobody on stage, both users among the viewers.
  await shows(host, "rtk-stage-toggle", /^Join stage/);
  assert.equal(await toggleDisabled(host), true);
  await shows(host, "rtk-participants-stage-list", /^Participants \(0\)/);
  await shows(host, "rtk-participants-viewer-list", /^Viewers \(2\) H Host \(you\) V Viewer$/);
  assert.equal(await rendered(host, "rtk-participants-stage-queue"), "");
  await shows(host, "rtk-participants", /Requests 0 Participants 0 Viewers 2/);
  await shows(viewer, "rtk-stage-toggle", /^Join stage/);
  assert.equal(await toggleDisabled(viewer), false);

  // Request: the viewer clicks the kit's toggle.
  await viewer.locator("#rtk-stage-toggle rtk-controlbar-button").click();
  await viewer.waitForFunction(() => meeting.stage.status === "REQUESTED_TO_JOIN_STAGE");
  await shows(viewer, "rtk-stage-toggle", /^Requested/);
  await shows(host, "rtk-participants-stage-queue", /Join Stage Requests \(1\) V Viewer .*Accept all/);
  await shows(host, "rtk-participants", /Requests 1/);

  // Accept: the host clicks the queue's accept button.
  await host.locator("#rtk-participants-stage-queue rtk-icon.accept").click();
  await viewer.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE");
  await host.waitForFunction(() => document.getElementById("rtk-participants-stage-queue").shadowRoot.textContent.trim() === "");
  await shows(host, "rtk-participants", /Requests 0/);
  // The viewer's toggle no longer says Requested, and the kit opened its join dialog.
  await shows(viewer, "rtk-stage-toggle", /^Join stage/);
  await viewer.locator("rtk-join-stage").waitFor();

  // Join: the dialog's confirm button.
  await viewer.locator("rtk-join-stage rtk-button").nth(1).click();
  await viewer.waitForFunction(() => meeting.stage.status === "ON_STAGE");
  await shows(viewer, "rtk-stage-toggle", /^Leave stage/);
  await shows(viewer, "rtk-participants-stage-list", /^Participants \(1\) V Viewer \(you\)$/);
  await shows(host, "rtk-participants-stage-list", /^Participants \(1\) V Viewer$/);
  await shows(host, "rtk-participants-viewer-list", /^Viewers \(1\) H Host \(you\)$/);
  assert.equal(await viewer.locator("rtk-join-stage").count(), 0);

  // Leave: the toggle again.
  await viewer.locator("#rtk-stage-toggle rtk-controlbar-button").click();
  await viewer.waitForFunction(() => meeting.stage.status === "OFF_STAGE");
  await shows(viewer, "rtk-stage-toggle", /^Join stage/);
  await shows(host, "rtk-participants-stage-list", /^Participants \(0\)/);
  await shows(host, "rtk-participants-viewer-list", /^Viewers \(2\) H Host \(you\) V Viewer$/);

  // The host invites the viewer with the kit's participant menu ("Invite to
  // stage": grantAccess), the viewer joins, and the host removes it the same
  // way ("Remove from stage": kick).
  await host.locator("#rtk-participants-viewer-list rtk-participant", { hasText: "Viewer" }).locator("#trigger").click();
  await host.locator("#rtk-participants-viewer-list rtk-menu-item", { hasText: "Invite to stage" }).click();
  await viewer.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE");
  await viewer.locator("rtk-join-stage").waitFor();
  await viewer.locator("rtk-join-stage rtk-button").nth(1).click();
  await viewer.waitForFunction(() => meeting.stage.status === "ON_STAGE");
  await shows(host, "rtk-participants-stage-list", /^Participants \(1\) V Viewer$/);
  await host.locator("#rtk-participants-stage-list rtk-participant", { hasText: "Viewer" }).locator("#trigger").click();
  await host.locator("#rtk-participants-stage-list rtk-menu-item", { hasText: "Remove from stage" }).click();
  await viewer.waitForFunction(() => meeting.stage.status === "OFF_STAGE");
  await shows(viewer, "rtk-stage-toggle", /^Join stage/);
  await shows(host, "rtk-participants-stage-list", /^Participants \(0\)/);

  assert.deepEqual(host.errors.map(String), [], "host page errors");
  assert.deepEqual(viewer.errors.map(String), [], "viewer page errors");
  for (const page of [host, viewer]) await page.evaluate(() => meeting.leave());
});

// Waits for fn in the page; fails with the page's text and errors.
async function until(page, fn) {
  try {
    await page.waitForFunction(fn, null, { timeout: 10000 });
  } catch {
    assert.fail(`${fn} did not hold; the page shows ${JSON.stringify(await page.evaluate(() => document.body.innerText))}, errors ${page.errors}`);
  }
}

// The same React app bundled against Cloudflare's provider and against StageKit's.
for (const provider of ["@cloudflare/realtimekit-react", "stagekit/realtimekit-react"]) {
  test(`${provider}: useRealtimeKitSelector((m) => m.stage.status) follows a grant`, async () => {
    const alias = { "@cloudflare/realtimekit": join(root, "web/sdk/realtimekit.js") };
    if (provider.startsWith("stagekit")) alias["@cloudflare/realtimekit-react"] = join(root, "web/sdk/realtimekit-react.js");
    const bundle = await esbuild.build({
      entryPoints: [join(root, "e2e/fixtures/rtk-react-app.jsx")],
      bundle: true, format: "esm", write: false, jsx: "transform", alias,
      nodePaths: [join(root, "node_modules")],
      external: ["./stagekit.wasm", "./wasm_exec.js"],
      define: { "process.env.NODE_ENV": '"production"' },
      logLevel: "silent",
    });
    const name = provider.startsWith("stagekit") ? "rtk-react-stagekit" : "rtk-react-cloudflare";
    writeFileSync(join(web, "sdk", name + ".js"), bundle.outputFiles[0].text);
    writeFileSync(join(web, "demo", name + ".html"),
      `<!doctype html><title>${name}</title><link rel=icon href=data:,><div id="root"></div><script type="module" src="/sdk/${name}.js"></script>`);

    const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
    const host = await kitPage("host.html", people.Host.token);
    const page = await openPage(browser, server.url, `/demo/${name}.html?token=${people.Viewer.token}`);
    await page.waitForFunction(() => window.meeting && document.querySelector("#status"), null, { timeout: 20000 });
    assert.equal(await page.locator("#status").innerText(), "OFF_STAGE");

    await page.evaluate(() => meeting.stage.requestAccess());
    await until(page, () => document.querySelector("#status").textContent === "REQUESTED_TO_JOIN_STAGE");
    // (Checked after an event: Cloudflare's selector reads the meeting when it
    // mounts and then only on events, and joining fills the room silently.)
    await until(page, () => document.querySelector("#others").textContent === "Host:ACCEPTED_TO_JOIN_STAGE");

    await host.evaluate((id) => meeting.stage.grantAccess([id]), people.Viewer.id);
    await until(page, () => document.querySelector("#status").textContent === "ACCEPTED_TO_JOIN_STAGE");
    const renders = await page.evaluate(() => window.renders);
    assert.ok(renders >= 3 && renders < 30, `renders: ${renders}`);
    assert.deepEqual(page.errors.map(String), []);
    assert.deepEqual(host.errors.map(String), []);
    for (const p of [page, host]) await p.evaluate(() => meeting.leave());
  });
}
