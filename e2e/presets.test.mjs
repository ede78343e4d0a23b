// Presets over REST, seen from a real page: the preset's view_type is
// meeting.meta.viewType, and a preset changed while the page is in the room
// reaches it at once: self.permissions shows the new values and emits
// RealtimeKit's permissionsUpdate.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, rest, launch, openPage } from "./lib.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a preset changed over REST reaches the SDK: permissionsUpdate, viewType", async () => {
  await rest(server.url, "POST", "/v1/presets", {
    name: "panel_guest", config: { view_type: "AUDIO_ROOM" },
    permissions: { stage_enabled: true, stage_access: "CAN_REQUEST", accept_stage_requests: false },
  });
  const meeting = await rest(server.url, "POST", "/v1/meetings", { title: "presets" });
  const guest = await rest(server.url, "POST", `/v1/meetings/${meeting.id}/participants`, { name: "Guest", preset_name: "panel_guest" });
  const page = await openPage(browser, server.url);
  const before = await page.evaluate(async (authToken) => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    window.meeting = meeting;
    window.patches = [];
    window.selfUpdates = 0;
    meeting.self.permissions.on("permissionsUpdate", (patch) => window.patches.push(patch));
    meeting.self.on("permissionsUpdate", () => window.selfUpdates++);
    const p = meeting.self.permissions;
    return { viewType: meeting.meta.viewType, stageAccess: p.stageAccess, canProduceAudio: p.canProduceAudio, canProduceVideo: p.canProduceVideo };
  }, guest.token);
  assert.deepEqual(before, { viewType: "AUDIO_ROOM", stageAccess: "CAN_REQUEST", canProduceAudio: "CAN_REQUEST", canProduceVideo: "CAN_REQUEST" });

  await rest(server.url, "PUT", "/v1/presets/panel_guest", {
    name: "panel_guest", config: { view_type: "LIVESTREAM" },
    permissions: { stage_enabled: true, stage_access: "ALLOWED", media: { audio: { can_produce: "NOT_ALLOWED" } } },
  });
  // The preset's own patch (a status change the preset causes may bring one before it).
  await page.waitForFunction(() => window.patches.some((p) => p.stageAccess === "ALLOWED"), null, { timeout: 10000 });
  await page.waitForFunction(() => meeting.stage.status === "ACCEPTED_TO_JOIN_STAGE", null, { timeout: 10000 });
  const after = await page.evaluate(() => {
    const p = meeting.self.permissions;
    return { viewType: meeting.meta.viewType, stageAccess: p.stageAccess, canProduceAudio: p.canProduceAudio, canProduceVideo: p.canProduceVideo,
      patch: window.patches.find((p) => p.stageAccess), selfUpdates: window.selfUpdates };
  });
  assert.equal(after.viewType, "LIVESTREAM");
  assert.equal(after.stageAccess, "ALLOWED");
  assert.equal(after.canProduceAudio, "NOT_ALLOWED");
  assert.equal(after.canProduceVideo, "ALLOWED");
  assert.equal(after.patch.stageAccess, "ALLOWED");
  assert.equal(after.selfUpdates, 1);
  assert.deepEqual(page.errors.filter((e) => !e.message.startsWith("console.error")), [], "no uncaught page errors");
  await page.evaluate(() => meeting.leave());
});
