// RealtimeKit 2.0.2's members that are pure shape: added in JS to every
// meeting the Go side builds, so that pages, Cloudflare's UI kit and its React
// provider find what they read. Nothing here decides anything about the stage:
// the values come from Go (the server's state) or are the true constants of a
// feature this SDK does not have (no waiting room, no pinning, no screen
// share). stagekit.d.ts documents each member.

const bridge = () => globalThis.__stagekitJSBridge;

const readonly = (obj, name, value) =>
  Object.defineProperty(obj, name, { value, enumerable: true, configurable: true, writable: false });
const getter = (obj, name, get) => Object.defineProperty(obj, name, { get, enumerable: true, configurable: true });

// permissionsOf builds self.permissions once: a stable emitter (RealtimeKit's
// PermissionPreset) whose values read the preset's permissions as the server
// last sent them (get). When an admin changes the preset, self emits
// permissionsUpdate (from Go) and so does this object, with the new values.
function permissionsOf(self, get) {
  const perms = bridge().makeEmitter({});
  // Media goes with the stage in a webinar, unless the preset forbids a kind.
  const produce = (p, kind) => (!p.stageEnabled || p[kind] === "NOT_ALLOWED" ? "NOT_ALLOWED" : p.stageAccess);
  const live = {
    stageEnabled: (p) => p.stageEnabled,
    stageAccess: (p) => p.stageAccess,
    acceptStageRequests: (p) => p.acceptStageRequests,
    seeAllParticipants: (p) => p.seeAllParticipants,
    canProduceAudio: (p) => produce(p, "canProduceAudio"),
    canProduceVideo: (p) => produce(p, "canProduceVideo"),
    hiddenParticipant: (p) => !!p.hiddenParticipant,
  };
  // Features this SDK does not have.
  const fixed = {
    canProduceScreenshare: "NOT_ALLOWED",
    acceptWaitingRequests: false,
    kickParticipant: false,
    pinParticipant: false,
    canAllowParticipantAudio: false,
    canAllowParticipantVideo: false,
    canDisableParticipantAudio: false,
    canDisableParticipantVideo: false,
    canRecord: false,
    canSpotlight: false,
    canLivestream: false,
    isRecorder: false,
    showParticipantList: true,
  };
  for (const [k, f] of Object.entries(live)) getter(perms, k, () => f(get.call(self)));
  for (const [k, v] of Object.entries(fixed)) readonly(perms, k, v);
  self.on("permissionsUpdate", () => {
    const p = get.call(self);
    perms.emit("permissionsUpdate", Object.fromEntries(Object.entries(live).map(([k, f]) => [k, f(p)])));
  });
  return perms;
}

// goPermissionsOf keeps Go's permissions getter of each self, for meta.viewType.
const goPermissionsOf = new WeakMap();

// shapeSelf adds RealtimeKit's self members.
function shapeSelf(self) {
  const goPermissions = Object.getOwnPropertyDescriptor(self, "permissions").get;
  goPermissionsOf.set(self, () => goPermissions.call(self));
  const permissions = permissionsOf(self, goPermissions);
  getter(self, "permissions", () => permissions);
  readonly(self, "picture", undefined); // no pictures on this server: RealtimeKit's value without one
  readonly(self, "hidden", false);
  readonly(self, "isPinned", false);
  readonly(self, "waitlistStatus", "none");
  readonly(self, "screenShareEnabled", false);
  // No UI configuration (RealtimeKit's theme preset) comes from the server:
  // UI kits use their defaults.
  readonly(self, "config", Object.freeze({}));
  /**
   * RealtimeKit's setupTracks: turns on the media asked for (true); with
   * forceReset, turns off those not asked for. Resolves when done.
   */
  Object.defineProperty(self, "setupTracks", {
    value: async function setupTracks({ audio, video, forceReset = false } = {}) {
      if (audio === true) await self.enableAudio();
      else if (forceReset && self.audioEnabled) await self.disableAudio();
      if (video === true) await self.enableVideo();
      else if (forceReset && self.videoEnabled) await self.disableVideo();
    },
    enumerable: false,
    configurable: true,
    writable: true,
  });
}

// shapeMeta completes meeting.meta (Go made it, with meetingId): viewType,
// and socketState with its socketConnectionUpdate event.
function shapeMeta(meeting) {
  const meta = meeting.meta;
  // The preset's view_type; its default follows the stage.
  getter(meta, "viewType", () => {
    const p = goPermissionsOf.get(meeting.self)();
    return p.viewType || (p.stageEnabled ? "WEBINAR" : "GROUP_CALL");
  });
  let socketState = { state: "connected", reconnected: false };
  getter(meta, "socketState", () => socketState);
  const update = (state) => {
    socketState = state;
    meta.emit("socketConnectionUpdate", state);
  };
  meeting.on("reconnecting", () => update({ state: "reconnecting", reconnected: false }));
  meeting.on("reconnected", () => update({ state: "connected", reconnected: true }));
  meeting.on("disconnected", () => update({ state: "failed", reconnected: false }));
  meeting.self.on("roomLeft", ({ state }) => {
    if (state === "left") update({ state: "disconnected", reconnected: false });
  });
}

// shapeParticipants adds RealtimeKit's other participant maps. active holds
// the participants on stage (RealtimeKit's active grid), all the ones the
// user may see (the same as joined: a webinar's audience is not listed to
// it); waitlisted and pinned stay empty (no waiting room, no pinning).
function shapeParticipants(meeting) {
  const { makeParticipantMap } = bridge();
  const parts = meeting.participants;
  const joined = parts.joined;
  const active = makeParticipantMap();
  const all = makeParticipantMap();
  for (const [name, map] of Object.entries({ active, all, waitlisted: makeParticipantMap(), pinned: makeParticipantMap() })) {
    readonly(parts, name, map);
  }
  const place = (p) => {
    const onStage = p.stageStatus === "ON_STAGE";
    if (onStage && !active.has(p.id)) {
      active.set(p.id, p);
      active.emit("participantJoined", p);
    } else if (!onStage && active.has(p.id)) {
      active.delete(p.id);
      active.emit("participantLeft", p);
    }
  };
  const join = (p) => {
    all.set(p.id, p);
    all.emit("participantJoined", p);
    place(p);
  };
  const leave = (p) => {
    if (active.delete(p.id)) active.emit("participantLeft", p);
    if (all.delete(p.id)) all.emit("participantLeft", p);
  };
  // Registered before any page listener (prependListener), so that pages
  // reading active/all in their own listeners see them current.
  joined.prependListener("participantJoined", join);
  joined.prependListener("participantLeft", leave);
  joined.prependListener("stageStatusUpdate", place);
  // The room as found on joining (or a resync) comes without per-participant
  // events: take it from joined.
  meeting.self.prependListener("roomJoined", () => {
    for (const p of [...all.values()]) if (!joined.has(p.id)) leave(p);
    for (const p of joined.values()) if (!all.has(p.id)) join(p);
    else place(p);
  });
}

/** Adds RealtimeKit 2.0.2's pure-shape members to a meeting from the Go side. */
export function shapeMeeting(meeting) {
  shapeSelf(meeting.self);
  shapeMeta(meeting);
  shapeParticipants(meeting);
  return meeting;
}
