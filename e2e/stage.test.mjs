// The seed's documented stage snippets, run verbatim in real pages (a host
// and a viewer) against the real server, in Debian's Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, createMeeting, launch, openPage } from "./lib.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// Loads the SDK in the page, joins, and records every stage and participant event.
async function joinAs(person) {
  const page = await openPage(browser, server.url);
  await page.evaluate(async (authToken) => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const meeting = await StageKit.init({ authToken, baseURI: location.origin });
    await meeting.join();
    window.meeting = meeting;
    window.events = [];
    window.order = []; // every stage event's name, in order (waitEvent takes from events, not from here)
    meeting.stage.on("*", (name) => window.order.push(name));
    meeting.stage.on("*", (name, ...args) => window.events.push({ on: "stage", name, args: JSON.parse(JSON.stringify(args)) }));
    meeting.participants.joined.on("stageStatusUpdate", (p) => window.events.push({ on: "joined", name: "stageStatusUpdate", args: [p.userId, p.stageStatus] }));
  }, person.token);
  return page;
}

// Waits until the page has recorded an event named name (on the stage unless said).
async function waitEvent(page, name, on = "stage") {
  await page.waitForFunction(([n, o]) => window.events.some((e) => e.name === n && e.on === o), [name, on], { timeout: 10000 });
  return page.evaluate(([n, o]) => {
    const i = window.events.findIndex((e) => e.name === n && e.on === o);
    return window.events.splice(i, 1)[0].args;
  }, [name, on]);
}

const status = (page) => page.evaluate(() => meeting.stage.status);

// Runs code in the page and returns the ClientError it rejects with.
async function refusal(page, code) {
  return page.evaluate(async (src) => {
    try {
      await (0, eval)(src)();
      return null;
    } catch (e) {
      const { ClientError } = await import("/sdk/stagekit.js");
      return { name: e.name, code: e.code, message: e.message, isError: e instanceof Error, isClientError: e instanceof ClientError };
    }
  }, `async () => { ${code} }`);
}

// Who sees whom, in three real pages: a viewer sees the host and whoever is
// on stage, never another viewer's request; the count is the whole room.
test("the audience sees the stage, not each other", async () => {
  const { people } = await createMeeting(server.url, {
    Host: "webinar_host",
    A: "webinar_viewer",
    B: "webinar_viewer",
  });
  const host = await joinAs(people.Host);
  const a = await joinAs(people.A);
  const b = await joinAs(people.B);
  await a.evaluate(() => {
    window.seen = [];
    meeting.participants.joined.on("participantJoined", (p) => window.seen.push(["joined", p.userId, p.stageStatus]));
    meeting.participants.joined.on("participantLeft", (p) => window.seen.push(["left", p.userId]));
    meeting.participants.on("countUpdate", (n) => window.seen.push(["count", n]));
  });
  const joinedIds = (page) => page.evaluate(() => meeting.participants.joined.toArray().map((p) => p.userId).sort());
  await host.waitForFunction(() => meeting.participants.joined.size === 2);
  assert.deepEqual(await joinedIds(a), [people.Host.id], "a viewer sees the host only");
  await a.waitForFunction(() => meeting.participants.count === 3, null, { timeout: 10000 });

  // B asks: the host hears of it, A hears nothing.
  await b.evaluate(() => meeting.stage.requestAccess());
  await waitEvent(host, "newStageRequest");
  await host.evaluate((id) => meeting.stage.grantAccess([id]), people.B.id);
  await waitEvent(b, "stageRequestApproved");
  assert.deepEqual(await a.evaluate(() => window.events), [], "nothing of another viewer's request reaches a viewer");

  // B comes on stage: A now sees B; B is kicked: A no longer does.
  await b.evaluate(() => meeting.stage.join());
  await a.waitForFunction((id) => meeting.participants.joined.toArray().some((p) => p.userId === id), people.B.id);
  assert.deepEqual(await joinedIds(a), [people.Host.id, people.B.id].sort());
  await host.evaluate((id) => meeting.stage.kick([id]), people.B.id);
  await a.waitForFunction((id) => !meeting.participants.joined.toArray().some((p) => p.userId === id), people.B.id);
  const seen = await a.evaluate(() => window.seen);
  assert.deepEqual(seen.filter((e) => e[0] !== "count"), [["joined", people.B.id, "ON_STAGE"], ["left", people.B.id]]);
  assert.deepEqual(await a.evaluate(() => window.events), [
    { on: "joined", name: "stageStatusUpdate", args: [people.B.id, "ON_STAGE"] },
    { on: "joined", name: "stageStatusUpdate", args: [people.B.id, "OFF_STAGE"] },
  ]);
  // The host saw all of it and still sees both viewers.
  assert.deepEqual(await joinedIds(host), [people.A.id, people.B.id].sort());

  for (const page of [host, a, b]) {
    assert.deepEqual(page.errors.filter((e) => !e.message.startsWith("console.error")), [], "no uncaught page errors");
    await page.evaluate(() => meeting.leave());
  }
});

test("host and viewer run the documented stage flow", async () => {
  const { people } = await createMeeting(server.url, {
    Host: "webinar_host",
    Viewer: "webinar_viewer",
  });
  const host = await joinAs(people.Host);
  const viewer = await joinAs(people.Viewer);
  const viewerId = people.Viewer.id;

  assert.equal(await status(host), "ACCEPTED_TO_JOIN_STAGE");
  assert.equal(await status(viewer), "OFF_STAGE");

  // Host listens for requests, as documented.
  await host.evaluate(() => {
    window.requests = [];
    meeting.stage.on("newStageRequest", (payload) => window.requests.push(payload));
  });

  // Viewer asks.
  await viewer.evaluate(async () => {
    await meeting.stage.requestAccess();
  });
  assert.equal(await status(viewer), "REQUESTED_TO_JOIN_STAGE", "status is updated when the promise resolves");
  assert.deepEqual(await waitEvent(viewer, "stageStatusUpdate"), ["REQUESTED_TO_JOIN_STAGE"]);
  assert.deepEqual(await waitEvent(host, "newStageRequest"), [{ count: 1 }]);
  assert.deepEqual(await host.evaluate(() => window.requests), [{ count: 1 }]);
  const [list] = await waitEvent(host, "stageAccessRequestUpdate");
  assert.equal(list.length, 1);
  assert.equal(list[0].userId, viewerId);
  assert.equal(list[0].displayName, "Viewer");
  assert.ok(list[0].requestedAt > 0);
  // Synchronous, as in RealtimeKit: a page may map over it directly.
  const fetched = await host.evaluate(() => {
    const r = meeting.stage.getAccessRequests();
    return { isPromise: r instanceof Promise, ids: r.stageRequests.map((q) => q.userId) };
  });
  assert.deepEqual(fetched, { isPromise: false, ids: [viewerId] });
  // RealtimeKit's order: newStageRequest, then the list.
  assert.deepEqual(await host.evaluate(() => window.order.filter((n) => n === "newStageRequest" || n === "stageAccessRequestUpdate")),
    ["newStageRequest", "stageAccessRequestUpdate"]);
  assert.equal(await viewer.evaluate(() => window.events.filter((e) => e.name === "stageAccessRequestUpdate").length), 0,
    "a viewer never receives the request list");

  // Refusals with their codes.
  let err = await refusal(viewer, `await meeting.stage.grantAccess(["${people.Host.id}"])`);
  assert.deepEqual([err.name, err.code, err.isError, err.isClientError], ["ClientError", "2001", true, true]);
  assert.match(err.message, /^\[ERR2001\]: /);

  // Host grants everyone it sees, as documented.
  await host.evaluate(async () => {
    await meeting.stage.grantAccess(meeting.participants.toArray().map(p => p.userId));
  });
  await waitEvent(viewer, "stageRequestApproved");
  await waitEvent(viewer, "acceptPresentRequests");
  assert.deepEqual(await waitEvent(viewer, "stageStatusUpdate"), ["ACCEPTED_TO_JOIN_STAGE"]);
  assert.deepEqual(await waitEvent(host, "stageAccessRequestUpdate"), [[]]);
  // RealtimeKit's order: the approval before the status update it causes.
  assert.deepEqual(await viewer.evaluate(() => window.order.slice(-3)),
    ["stageRequestApproved", "acceptPresentRequests", "stageStatusUpdate"]);

  // Viewer joins the stage.
  await viewer.evaluate(async () => {
    await meeting.stage.join();
  });
  assert.equal(await status(viewer), "ON_STAGE");
  await host.waitForFunction((id) => meeting.participants.joined.toArray().find((p) => p.userId === id)?.stageStatus === "ON_STAGE", viewerId);
  assert.ok((await waitEvent(host, "stageStatusUpdate", "joined")).length === 2);

  // Host kicks.
  await host.evaluate(async (userIds) => {
    await meeting.stage.kick(userIds);
  }, [viewerId]);
  await viewer.waitForFunction(() => meeting.stage.status === "OFF_STAGE");

  // Joining while OFF_STAGE is refused.
  err = await refusal(viewer, "await meeting.stage.join();");
  assert.deepEqual([err.name, err.code], ["ClientError", "2006"]);

  // Deny.
  await viewer.evaluate(() => meeting.stage.requestAccess());
  await host.waitForFunction((id) => meeting.participants.joined.toArray().find((p) => p.userId === id)?.stageStatus === "REQUESTED_TO_JOIN_STAGE", viewerId);
  await host.evaluate((id) => meeting.stage.denyAccess([id]), viewerId);
  await waitEvent(viewer, "stageRequestRejected");
  await viewer.waitForFunction(() => meeting.stage.status === "OFF_STAGE");

  // Cancel.
  await viewer.evaluate(() => meeting.stage.requestAccess());
  await viewer.evaluate(() => meeting.stage.cancelRequestAccess());
  assert.equal(await status(viewer), "OFF_STAGE");
  await host.waitForFunction(async () => (await meeting.stage.getAccessRequests()).stageRequests.length === 0);

  // Invite and decline.
  await host.waitForFunction((id) => meeting.participants.joined.toArray().find((p) => p.userId === id)?.stageStatus === "OFF_STAGE", viewerId);
  await host.evaluate((id) => meeting.stage.grantAccess([id]), viewerId);
  await waitEvent(viewer, "acceptPresentRequests");
  assert.equal(await status(viewer), "ACCEPTED_TO_JOIN_STAGE");
  await viewer.evaluate(() => meeting.stage.leave());
  assert.equal(await status(viewer), "OFF_STAGE");

  // meeting.self and participants surface.
  const self = await viewer.evaluate(() => ({
    id: meeting.self.id, userId: meeting.self.userId, name: meeting.self.name, presetName: meeting.self.presetName,
    stageStatus: meeting.self.stageStatus, roomJoined: meeting.self.roomJoined, permissions: { ...meeting.self.permissions },
    peerId: meeting.stage.peerId, selfPeerId: meeting.self.peerId, size: meeting.participants.joined.size,
    stablePermissions: meeting.self.permissions === meeting.self.permissions && typeof meeting.self.permissions.on === "function",
    roomState: meeting.self.roomState, viewType: meeting.meta.viewType, meetingId: meeting.meta.meetingId,
    joinedIsMap: meeting.participants.joined instanceof Map, hasHost: [...meeting.participants.joined.values()].length,
    maps: ["waitlisted", "active", "pinned", "all"].map((k) => meeting.participants[k].size),
    hostIsHost: [...meeting.participants.joined.values()][0].isHost,
    customIds: [meeting.self.customParticipantId, [...meeting.participants.joined.values()][0].customParticipantId],
  }));
  assert.equal(self.userId, viewerId);
  assert.equal(self.id, self.peerId);
  assert.equal(self.selfPeerId, self.peerId);
  assert.deepEqual([self.permissions.stageEnabled, self.permissions.stageAccess, self.permissions.acceptStageRequests, self.permissions.seeAllParticipants],
    [true, "CAN_REQUEST", false, false]);
  assert.equal(self.permissions.acceptWaitingRequests, false);
  assert.equal(self.stablePermissions, true);
  assert.equal(self.roomJoined, true);
  assert.equal(self.roomState, "joined");
  assert.equal(self.viewType, "WEBINAR");
  assert.ok(self.meetingId);
  assert.equal(self.size, 1);
  assert.equal(self.joinedIsMap, true);
  assert.equal(self.hasHost, 1);
  assert.deepEqual(self.maps, [0, 0, 0, 1], "the host (not on stage) is in all, not active");
  assert.equal(self.hostIsHost, true, "the host's preset accepts requests: isHost");
  assert.deepEqual(self.customIds, [undefined, undefined], "no custom_participant_id given: undefined");

  for (const page of [host, viewer]) {
    assert.deepEqual(page.errors.filter((e) => !e.message.startsWith("console.error")), [], "no uncaught page errors");
    await page.evaluate(() => meeting.leave());
  }
});

test("a NOT_ALLOWED user's request is refused with 2001", async () => {
  const { people } = await createMeeting(server.url, { Watcher: "livestream_viewer" });
  const watcher = await joinAs(people.Watcher);
  const err = await refusal(watcher, "await meeting.stage.requestAccess();");
  assert.deepEqual([err.name, err.code], ["ClientError", "2001"]);
  assert.match(err.message, /^\[ERR2001\]/);
  assert.equal(await status(watcher), "OFF_STAGE");
});

test("init rejects a bad token with a ClientError", async () => {
  const page = await openPage(browser, server.url);
  const errs = await page.evaluate(async () => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const tryInit = async (options) => {
      try {
        await StageKit.init(options);
        return null;
      } catch (e) {
        return { name: e.name, code: e.code, message: e.message };
      }
    };
    return {
      garbage: await tryInit({ authToken: "garbage", baseURI: location.origin }),
      notAString: await tryInit({ authToken: 42, baseURI: location.origin }),
      missing: await tryInit({ baseURI: location.origin }),
    };
  });
  assert.deepEqual([errs.garbage.name, errs.garbage.code], ["ClientError", "4011"]);
  assert.match(errs.garbage.message, /^\[ERR4011\]/);
  assert.deepEqual([errs.notAString.name, errs.notAString.code], ["ClientError", "4005"], "a token that is not a string is a bad argument");
  assert.deepEqual([errs.missing.name, errs.missing.code], ["ClientError", "4010"], "no token");
});

test("two meetings in one page work side by side", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host", Viewer: "webinar_viewer" });
  const page = await openPage(browser, server.url);
  const result = await page.evaluate(async ([hostToken, viewerToken, viewerId]) => {
    const { default: StageKit } = await import("/sdk/stagekit.js");
    const host = await StageKit.init({ authToken: hostToken, baseURI: location.origin });
    const viewer = await StageKit.init({ authToken: viewerToken, baseURI: location.origin });
    await host.join();
    await viewer.join();
    const seen = new Promise((resolve) => host.stage.on("newStageRequest", resolve));
    await viewer.stage.requestAccess();
    const payload = await seen;
    await host.stage.grantAccess([viewerId]);
    await viewer.stage.join();
    return { payload, viewer: viewer.stage.status, host: host.stage.status };
  }, [people.Host.token, people.Viewer.token, people.Viewer.id]);
  assert.deepEqual(result, { payload: { count: 1 }, viewer: "ON_STAGE", host: "ACCEPTED_TO_JOIN_STAGE" });
});

// RealtimeKit's init options and self's room events.
test("init's defaults and onError; self's roomJoined/roomLeft payloads and roomState", async () => {
  const { people } = await createMeeting(server.url, { Host: "webinar_host" });
  const page = await openPage(browser, server.url);
  const got = await page.evaluate(async (authToken) => {
    const { default: StageKit, ClientError } = await import("/sdk/stagekit.js");
    const errors = [];
    const onError = (e) => errors.push({ code: e.code, isClientError: e instanceof ClientError });
    await StageKit.init({ authToken: "garbage", baseURI: location.origin, onError }).catch(() => {});
    const meeting = await StageKit.init({ authToken, baseURI: location.origin, defaults: { audio: false, video: true }, onError });
    const events = [];
    meeting.self.on("*", (name, ...args) => {
      if (name === "roomJoined" || name === "roomLeft") events.push([name, ...args]);
    });
    const states = [meeting.self.roomState];
    await meeting.join();
    states.push(meeting.self.roomState);
    const media = { video: meeting.self.videoEnabled, audio: meeting.self.audioEnabled };
    await meeting.leave();
    states.push(meeting.self.roomState);
    return { errors, events, states, media, socket: meeting.meta.socketState.state };
  }, people.Host.token);
  assert.deepEqual(got.errors, [{ code: "4011", isClientError: true }]);
  assert.deepEqual(got.events, [["roomJoined", { reconnected: false }], ["roomLeft", { state: "left" }]]);
  assert.deepEqual(got.states, ["init", "joined", "left"]);
  assert.deepEqual(got.media, { video: true, audio: false }, "defaults.video turned the (fake) camera on");
  assert.equal(got.socket, "disconnected");
});
