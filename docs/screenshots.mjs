// Screenshots of Cloudflare's UI kit (<rtk-meeting>, @cloudflare/realtimekit-ui
// 2.0.2 as published) on StageKit meetings, for the README: headless
// Chromium with a fake camera and screen against bin/stageserver, the same
// pages as e2e/meeting.test.mjs. Writes docs/rtk-meeting-*.png.
//
//   node docs/screenshots.mjs          (needs `make build`)
import { mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { startServer, rest, root, chromiumArgs } from "../e2e/lib.mjs";

const web = mkdtempSync(join(tmpdir(), "stagekit-shots-"));
mkdirSync(join(web, "sdk"));
for (const f of readdirSync(join(root, "web/sdk"))) symlinkSync(join(root, "web/sdk", f), join(web, "sdk", f));
mkdirSync(join(web, "demo"));
copyFileSync(join(root, "e2e/fixtures/uikit/meeting.html"), join(web, "demo/meeting.html"));
symlinkSync(join(root, "node_modules/@cloudflare/realtimekit-ui"), join(web, "demo/rtkui"));
const server = await startServer(["-web", web]);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
  args: [...chromiumArgs, "--auto-select-desktop-capture-source=Entire screen"] });
const T = { timeout: 20000 };
try {
  const meeting = await rest(server.url, "POST", "/v1/meetings", { title: "Quarterly webinar" });
  const add = (name, preset_name) => rest(server.url, "POST", `/v1/meetings/${meeting.id}/participants`, { name, preset_name });
  const hostP = await add("Hana Host", "webinar_host");
  const viewerP = await add("Vic Viewer", "webinar_viewer");
  const open = async (token) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    await context.route(/^https:\/\//, (r) => r.fulfill({ status: 200, body: "" }));
    const page = await context.newPage();
    await page.goto(`${server.url}/demo/meeting.html?token=${token}`);
    await page.waitForFunction(() => window.ready === true, null, T);
    return page;
  };
  const shot = (page, name) => page.screenshot({ path: join(root, "docs", `rtk-meeting-${name}.png`) });
  const settle = () => new Promise((r) => setTimeout(r, 1500));

  const host = await open(hostP.token);
  const viewer = await open(viewerP.token);
  await viewer.locator("rtk-setup-screen rtk-participant-tile").waitFor();
  await settle();
  await shot(viewer, "setup");
  for (const p of [host, viewer]) {
    await p.locator("rtk-setup-screen rtk-button").click();
    await p.waitForFunction(() => meeting.self.roomJoined, null, T);
  }
  await host.locator("rtk-join-stage rtk-button").nth(1).click();
  await host.waitForFunction(() => meeting.stage.status === "ON_STAGE", null, T);
  await host.locator("rtk-controlbar rtk-camera-toggle").first().click();
  await viewer.locator("rtk-controlbar rtk-stage-toggle").first().click();
  await host.locator("rtk-controlbar rtk-participants-toggle").first().click();
  await host.locator("rtk-sidebar").getByText("Requests").click();
  await host.locator("rtk-participants-stage-queue rtk-icon.accept").waitFor();
  await settle();
  await shot(host, "requests");
  await host.locator("rtk-participants-stage-queue rtk-icon.accept").click();
  await viewer.locator("rtk-join-stage rtk-button").nth(1).waitFor();
  await settle();
  await shot(viewer, "join-stage");
  await viewer.locator("rtk-join-stage rtk-button").nth(1).click();
  await viewer.waitForFunction(() => meeting.stage.status === "ON_STAGE", null, T);
  await viewer.locator("rtk-controlbar rtk-camera-toggle").first().click();
  await viewer.locator("rtk-controlbar rtk-mic-toggle").first().click();
  await host.locator("rtk-participants").getByText("Participants").first().click();
  await host.waitForFunction(() => meeting.participants.joined.toArray().some((p) => p.videoEnabled), null, T);
  await settle();
  await shot(host, "stage");
  await viewer.locator("rtk-controlbar rtk-screen-share-toggle").first().click();
  await host.waitForFunction(() => meeting.participants.joined.toArray().some((p) => p.screenShareEnabled), null, T);
  await settle();
  await shot(host, "screenshare");
  for (const p of [host, viewer]) await p.evaluate(() => meeting.leave());
} finally {
  await browser.close();
  await server.stop();
  rmSync(web, { recursive: true, force: true });
}
