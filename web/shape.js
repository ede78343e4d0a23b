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
// PermissionPreset). The preset's values come from Go as the server last
// sent them; canProduceAudio/Video/Screenshare are RealtimeKit's
// stage-aware values, read from Go on every access (stage.ProduceAccess: a
// CAN_REQUEST preset produces once accepted or on stage; a kind the preset
// forbids is NOT_ALLOWED). permissionsUpdate fires with RealtimeKit's patch
// shape, the values that changed: when a status change changes a
// canProduce ({media: {audio: {canProduce}, …}}) and when an admin changes
// the preset over REST (its fields by name, and media). The features this
// SDK does not have read false or NOT_ALLOWED.
function permissionsOf(self, goPermissions) {
  const perms = bridge().makeEmitter({});
  const fromGo = () => goPermissions.call(self);
  const live = ["stageEnabled", "stageAccess", "acceptStageRequests", "seeAllParticipants", "hiddenParticipant"];
  for (const name of live) getter(perms, name, () => fromGo()[name]);
  const produce = { canProduceAudio: "audio", canProduceVideo: "video", canProduceScreenshare: "screenshare" };
  for (const name of Object.keys(produce)) getter(perms, name, () => fromGo()[name]);
  const off = { canSend: false, text: false, files: false };
  const values = {
    // Features this SDK does not have.
    acceptWaitingRequests: false,
    requestProduceAudio: false,
    requestProduceVideo: false,
    requestProduceScreenshare: false,
    kickParticipant: false,
    pinParticipant: false,
    canAllowParticipantAudio: false,
    canAllowParticipantScreensharing: false,
    canAllowParticipantVideo: false,
    canDisableParticipantAudio: false,
    canDisableParticipantVideo: false,
    canRecord: false,
    canSpotlight: false,
    canLivestream: false,
    canEditDisplayName: true, // before joining (self.setName)
    canChangeParticipantPermissions: false,
    isRecorder: false,
    recorderType: "NONE",
    showParticipantList: true,
    transcriptionEnabled: false,
    waitingRoomBehaviour: "SKIP",
    chatPublic: Object.freeze({ ...off }),
    chatPrivate: Object.freeze({ ...off, canReceive: false }),
    chatChannel: Object.freeze({ canSend: false, text: false, files: false }),
    chatMessage: Object.freeze({ canEdit: "NONE", canDelete: "NONE" }),
    polls: Object.freeze({ canCreate: false, canVote: false, canView: false }),
    plugins: Object.freeze({ canStart: false, canClose: false, canEditConfig: false, config: Object.freeze({}) }),
    connectedMeetings: Object.freeze({ canAlterConnectedMeetings: false, canSwitchConnectedMeetings: false, canSwitchToParentMeeting: false }),
    mediaRoomType: "STAGEKIT",
  };
  for (const [k, v] of Object.entries(values)) readonly(perms, k, v);
  const watched = [...live, ...Object.keys(produce)];
  let last = pick(fromGo(), watched);
  const changed = () => {
    const now = pick(fromGo(), watched);
    const patch = {};
    const media = {};
    for (const name of live) if (now[name] !== last[name]) patch[name] = now[name];
    for (const [name, kind] of Object.entries(produce)) if (now[name] !== last[name]) media[kind] = { canProduce: now[name] };
    last = now;
    if (Object.keys(media).length > 0) patch.media = media;
    if (Object.keys(patch).length > 0) perms.emit("permissionsUpdate", patch);
  };
  self.prependListener("stageStatusUpdate", changed); // a status change
  self.on("permissionsUpdate", changed); // the preset changed (from Go)
  return perms;
}

const pick = (o, names) => Object.fromEntries(names.map((n) => [n, o[n]]));

// RealtimeKit's default design tokens (its ThemePreset's defaults), so that
// the UI kit draws its own default theme.
const designTokens = () => ({
  borderRadius: "rounded",
  borderWidth: "thin",
  spacingBase: 4,
  theme: "dark",
  colors: {
    brand: { 300: "#023dd0", 400: "#0248f5", 500: "#2160fd", 600: "#3e75fd", 700: "#5c8afe" },
    background: { 600: "#222222", 700: "#1f1f1f", 800: "#1b1b1b", 900: "#181818", 1000: "#141414" },
    danger: "#FF2D2D",
    text: "#EEEEEE",
    textOnBrand: "#EEEEEE",
    success: "#62A504",
    videoBg: "#191919",
    warning: "#FFCD07",
  },
});

// uiConfig is self.config, RealtimeKit's ThemePreset (the preset's UI
// config) for this user: its default webinar UI, with the controls of
// features this SDK does not have (chat, polls, plugins) turned off and the
// screen share control where the preset allows screen share. A fresh
// object on every read: the UI kit writes into what it is given.
function uiConfig(meeting, goPermissions) {
  const self = meeting.self;
  const p = goPermissions.call(self);
  return {
    name: self.presetName,
    viewType: meeting.meta.viewType,
    setupScreen: { isEnabled: true },
    waitingRoom: { isEnabled: false },
    controlBar: {
      isEnabled: true,
      elements: {
        chat: false,
        fullscreen: true,
        invite: false,
        layout: false,
        participants: true,
        plugins: false,
        polls: false,
        reactions: false,
        screenshare: p.screenshareAccess !== "NOT_ALLOWED",
      },
    },
    header: { isEnabled: true, elements: { logo: "", timer: true, title: true, participantCount: true, changeLayout: false } },
    pipMode: false,
    livestreamViewerQualities: [],
    maxVideoStreams: { mobile: 6, desktop: 9 },
    maxScreenShareCount: p.maxScreenshareCount || 1,
    plugins: [],
    disabledPlugins: [],
    designTokens: designTokens(),
    configDiff: {},
    isSimulcastEnabled: false,
    mediaConstraints: {},
  };
}

// --- devices ------------------------------------------------------------------

const deviceKinds = { audio: "audioinput", video: "videoinput", speaker: "audiooutput" };

async function listDevices(kind) {
  const md = globalThis.navigator?.mediaDevices;
  if (!md?.enumerateDevices) return [];
  const all = await md.enumerateDevices();
  return kind ? all.filter((d) => d.kind === kind) : all;
}

// shapeDevices adds RealtimeKit's device members to self: the lists
// (enumerateDevices), the current devices (the live track's device, else
// the chosen or first one of its kind, from the last listing) and setDevice,
// which opens the chosen camera or microphone and publishes it in place of
// the current one if that medium is on. deviceUpdate fires on a change.
function shapeDevices(self) {
  let known = [];
  const chosen = {}; // kind ("audio" | "video" | "speaker") → deviceId
  const refresh = async (kind) => {
    const list = await listDevices(kind);
    if (!kind) known = list;
    else known = known.filter((d) => d.kind !== kind).concat(list);
    return list;
  };
  refresh().catch(() => {});
  globalThis.navigator?.mediaDevices?.addEventListener?.("devicechange", () => refresh().catch(() => {}));
  const current = (kind) => {
    const of = known.filter((d) => d.kind === deviceKinds[kind]);
    const track = kind === "audio" ? self.audioTrack : kind === "video" ? self.videoTrack : null;
    const id = track?.getSettings?.().deviceId ?? chosen[kind];
    return of.find((d) => d.deviceId === id) ?? of.find((d) => d.deviceId === "default") ?? of[0];
  };
  const methods = {
    getAllDevices: () => refresh(),
    getAudioDevices: () => refresh(deviceKinds.audio),
    getVideoDevices: () => refresh(deviceKinds.video),
    getSpeakerDevices: () => refresh(deviceKinds.speaker),
    getDeviceById: async (deviceId, kind) => (await refresh(deviceKinds[kind] ?? kind)).find((d) => d.deviceId === deviceId),
    getCurrentDevices: () => ({ audio: current("audio"), video: current("video"), speaker: current("speaker") }),
    async setDevice(device) {
      const kind = Object.keys(deviceKinds).find((k) => deviceKinds[k] === device?.kind);
      if (!kind) throw new (bridge().ClientError)("setDevice needs a MediaDeviceInfo of an audio/video input or audio output", "4005");
      chosen[kind] = device.deviceId;
      const enabled = kind === "audio" ? self.audioEnabled : kind === "video" ? self.videoEnabled : false;
      if (enabled) {
        const stream = await navigator.mediaDevices.getUserMedia({ [kind]: { deviceId: { exact: device.deviceId } } });
        const track = stream.getTracks()[0];
        try {
          await (kind === "audio" ? self.enableAudio(track) : self.enableVideo(track));
        } catch (err) {
          track.stop();
          throw err;
        }
      }
      self.emit("deviceUpdate", { device, preview: false });
    },
  };
  for (const [name, fn] of Object.entries(methods)) method(self, name, fn);
}

// shapeMediaPermissions adds self.mediaPermissions ({audio, video,
// screenshare}: NOT_REQUESTED, ACCEPTED, DENIED, COULD_NOT_START) and its
// mediaPermissionUpdate event ({kind, message}), as the enable calls turn
// out: the UI kit's toggles show a denied device from it.
function shapeMediaPermissions(self) {
  const state = { audio: "NOT_REQUESTED", video: "NOT_REQUESTED", screenshare: "NOT_REQUESTED" };
  getter(self, "mediaPermissions", () => ({ ...state }));
  const set = (kind, message) => {
    if (state[kind] === message) return;
    state[kind] = message;
    self.emit("mediaPermissionUpdate", { kind, message });
  };
  // A track obtained is the browser's yes (set before the update's other listeners run).
  self.prependListener("audioUpdate", ({ audioEnabled }) => audioEnabled && set("audio", "ACCEPTED"));
  self.prependListener("videoUpdate", ({ videoEnabled }) => videoEnabled && set("video", "ACCEPTED"));
  self.prependListener("screenShareUpdate", ({ screenShareEnabled }) => screenShareEnabled && set("screenshare", "ACCEPTED"));
  for (const [name, kind] of [["enableAudio", "audio"], ["enableVideo", "video"], ["enableScreenShare", "screenshare"]]) {
    const enable = self[name];
    if (typeof enable !== "function") continue;
    method(self, name, async function (...args) {
      try {
        return await enable.apply(self, args);
      } catch (err) {
        if (String(err?.code) === "4042") set(kind, /NotAllowedError|Permission/i.test(err.message) ? "DENIED" : "COULD_NOT_START");
        throw err;
      }
    });
  }
}

// registerVideoElement/deregisterVideoElement (RealtimeKit's, on self and
// every participant): the SDK keeps each registered <video> showing the
// participant's videoTrack as it changes.
function shapeVideoElements(p) {
  const elements = new Set();
  const show = (el) => {
    const track = p.videoTrack;
    if (!track) {
      if (el.srcObject) el.srcObject = null;
      return;
    }
    if (el.srcObject?.getVideoTracks?.()[0] === track) return;
    el.srcObject = new MediaStream([track]);
    el.play?.()?.catch?.(() => {}); // autoplay may wait for a gesture
  };
  p.on("videoUpdate", () => elements.forEach(show));
  method(p, "registerVideoElement", (el) => {
    if (!el) return;
    elements.add(el);
    show(el);
  });
  method(p, "deregisterVideoElement", (el) => {
    if (!el || !elements.delete(el)) return;
    el.srcObject = null;
  });
}

const method = (obj, name, fn) => Object.defineProperty(obj, name, { value: fn, enumerable: false, configurable: true, writable: true });

// goPermissionsOf keeps Go's permissions getter of each self, for meta.viewType.
const goPermissionsOf = new WeakMap();

// shapeSelf adds RealtimeKit's self members.
function shapeSelf(meeting) {
  const self = meeting.self;
  const goPermissions = Object.getOwnPropertyDescriptor(self, "permissions").get;
  goPermissionsOf.set(self, () => goPermissions.call(self));
  const permissions = permissionsOf(self, goPermissions);
  getter(self, "permissions", () => permissions);
  readonly(self, "picture", undefined); // no pictures on this server: RealtimeKit's value without one
  readonly(self, "hidden", false);
  readonly(self, "isPinned", false);
  readonly(self, "waitlistStatus", "none");
  readonly(self, "isHost", permissions.acceptStageRequests);
  readonly(self, "device", undefined);
  getter(self, "config", () => uiConfig(meeting, goPermissions));
  shapeDevices(self);
  shapeMediaPermissions(self);
  shapeVideoElements(self);
  // RealtimeKit's setName: the name shown to others, set before joining
  // (the join carries it to the server); refused once joined.
  const setName = self.setName;
  if (typeof setName === "function") method(self, "setName", setName);
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

// shapeMeta completes meeting.meta (Go made it, with meetingId,
// meetingTitle and meetingStartedTimestamp): viewType, and socketState
// with its socketConnectionUpdate event.
function shapeMeta(meeting) {
  const meta = meeting.meta;
  // The preset's view_type; its default follows the stage.
  const viewType = () => {
    const p = goPermissionsOf.get(meeting.self)();
    return p.viewType || (p.stageEnabled ? "WEBINAR" : "GROUP_CALL");
  };
  getter(meta, "viewType", viewType);
  getter(meta, "meetingType", viewType);
  // The media connections' states, from mediaConnectionUpdate (Go emits it).
  let mediaState = Object.freeze({ recv: { state: "new" }, send: { state: "new" } });
  getter(meta, "mediaState", () => mediaState);
  meta.on("mediaConnectionUpdate", ({ transport, state }) => {
    if (transport === "recv" || transport === "send") mediaState = Object.freeze({ ...mediaState, [transport]: { state } });
  });
  // The tab a user looks at (a screen share): kept locally; RealtimeKit's
  // tab sync (broadcastTabChanges) is not a StageKit feature.
  let selfActiveTab;
  getter(meta, "selfActiveTab", () => selfActiveTab);
  readonly(meta, "broadcastTabChanges", false);
  method(meta, "setSelfActiveTab", (tab) => {
    selfActiveTab = tab;
    meta.emit("selfTabUpdate", tab);
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
  // Every participant object Go puts in joined gets its RealtimeKit
  // members here (Go calls joined.set).
  const set = joined.set;
  method(joined, "set", function (id, p) {
    shapeParticipant(p);
    return set.call(this, id, p);
  });
  // RealtimeKit's view of the grid: one page, every participant on stage
  // (ACTIVE_GRID, in which the kit shows the user its own tile too).
  readonly(parts, "viewMode", "ACTIVE_GRID");
  readonly(parts, "currentPage", 0);
  readonly(parts, "pageCount", 0);
  readonly(parts, "lastActiveSpeaker", undefined);
  getter(parts, "maxActiveParticipantsCount", () => 100);
  method(parts, "setViewMode", async () => {});
  method(parts, "setPage", async () => {});
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

const shapedParticipants = new WeakSet();

// shapeParticipant adds a participant's RealtimeKit members that are pure
// shape: video element registration, and the constants of features this
// SDK does not have.
function shapeParticipant(p) {
  if (shapedParticipants.has(p)) return;
  shapedParticipants.add(p);
  shapeVideoElements(p);
  readonly(p, "device", undefined);
  readonly(p, "supportsRemoteControl", false);
  readonly(p, "isRecorder", false);
  readonly(p, "isHidden", false);
}

// An emitter whose members read as the feature being off: stand-ins where
// the UI kit reads a feature unguarded (README: "What <rtk-meeting> shows").
function standIn(values) {
  const em = bridge().makeEmitter({});
  for (const [k, v] of Object.entries(values)) (typeof v === "function" ? method : readonly)(em, k, v);
  return em;
}

// shapeMeeting's stand-ins for RealtimeKit's features this SDK does not
// have, present only where the UI kit reads them without checking:
// connected meetings (breakout rooms), recording, and __internals__'s
// logger (the kit's audio player and toggles log through it) and
// browserSpecs (its speaker selector asks for Firefox).
function shapeStandIns(meeting) {
  const noFeature = (what) => async () => {
    throw new (bridge().ClientError)(`${what} is not a StageKit feature`, "2001");
  };
  readonly(meeting, "connectedMeetings", standIn({
    isActive: false,
    meetings: Object.freeze([]),
    parentMeeting: undefined,
    getConnectedMeetings: async () => ({ parentMeeting: undefined, meetings: [] }),
    createMeetings: noFeature("breakout rooms"),
    updateMeetings: noFeature("breakout rooms"),
    deleteMeetings: noFeature("breakout rooms"),
    moveParticipants: noFeature("breakout rooms"),
  }));
  readonly(meeting, "recording", standIn({
    recordingState: "IDLE",
    recordings: Object.freeze([]),
    start: noFeature("recording"),
    stop: noFeature("recording"),
    pause: noFeature("recording"),
    resume: noFeature("recording"),
  }));
  const log = (level) => (...args) => {
    if (globalThis.__stagekitDebug) console[level]("stagekit (UI kit):", ...args);
  };
  const logger = Object.freeze({ info: log("info"), debug: log("debug"), log: log("log"), warn: log("warn"), error: log("warn") });
  const ua = globalThis.navigator?.userAgent ?? "";
  const browserSpecs = Object.freeze({
    isFirefox: () => /Firefox\//.test(ua),
    isChrome: () => /Chrom(e|ium)\//.test(ua),
    isSafari: () => /Safari\//.test(ua) && !/Chrom(e|ium)\//.test(ua),
    isMobile: () => /Mobi/.test(ua),
  });
  readonly(meeting, "__internals__", Object.freeze({ logger, browserSpecs }));
}

/** Adds RealtimeKit 2.0.2's pure-shape members to a meeting from the Go side. */
export function shapeMeeting(meeting) {
  shapeSelf(meeting);
  shapeMeta(meeting);
  shapeParticipants(meeting);
  shapeStandIns(meeting);
  return meeting;
}
