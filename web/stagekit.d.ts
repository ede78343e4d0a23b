// Type declarations for the StageKit browser SDK: Cloudflare RealtimeKit 2.0.2's meeting shapes (meeting.stage,
// meeting.self, meeting.participants, meeting.meta) as this SDK's runtime has them. The names RealtimeKit exports
// (RTKParticipant, RTKSelf, …) are in stagekit/realtimekit. Where this SDK differs from RealtimeKit on purpose, the
// comment says so (see also the README's "differences from RealtimeKit").

export type StageStatus = "OFF_STAGE" | "REQUESTED_TO_JOIN_STAGE" | "ACCEPTED_TO_JOIN_STAGE" | "ON_STAGE";

export type StageAccess = "ALLOWED" | "CAN_REQUEST" | "NOT_ALLOWED";

/** RealtimeKit's name for StageAccess. */
export type MediaProductionPermissionType = StageAccess;

/** A pending request to join the stage; requests are listed oldest first. */
export interface StageRequestPayload {
  displayName: string;
  userId: string;
  peerId: string;
  /** When the request was made, in ms since the epoch (this SDK's addition). */
  requestedAt: number;
}

/**
 * Every failing call rejects (getAccessRequests throws) with a ClientError, RealtimeKit's class: `code` is a string
 * such as "2006"; the message reads "[ERR<code>]: …"; `instanceof ClientError` holds for the SDK's errors.
 * Stage codes: 2001 permission denied, 2003 stage disabled, 2005 not joined, 2006 not in this stage status, 2101 an
 * unknown user id, 2102 an empty batch. Media codes: "4041" the media negotiation failed; "4042" the camera or
 * microphone cannot be used (the browser's error name is in the message); "4005" a bad argument (a track of the
 * wrong kind, a listener that is not a function). 5001 unreachable, 5002 disconnected, 5003 timeout, 5004 closed.
 */
export declare class ClientError extends Error {
  constructor(message: string, code?: string | number);
  readonly name: "ClientError";
  readonly code: string;
}

type Listener = (...args: any[]) => void;
type EventMap<E> = { [K in keyof E]: Listener };
type WithWildcard<E extends EventMap<E>> = E & { "*": (event: string, ...args: any[]) => void };

/**
 * RealtimeKit's (Node's) event emitter. `'*'` listeners receive (eventName, ...args) for every event and are called
 * first. on, addListener, once, prependListener, prependOnceListener, off, removeListener and removeAllListeners return the emitter, so calls chain.
 */
export interface Emitter<Events extends EventMap<Events>> {
  on<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  addListener<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  once<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  prependListener<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  prependOnceListener<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  off<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  removeListener<E extends keyof WithWildcard<Events> & string>(event: E, cb: WithWildcard<Events>[E]): this;
  removeAllListeners<E extends keyof WithWildcard<Events> & string>(event?: E): this;
  /** Calls the listeners as the SDK's own events do; true if any was called. */
  emit<E extends keyof WithWildcard<Events> & string>(event: E, ...args: Parameters<WithWildcard<Events>[E]>): boolean;
  listeners<E extends keyof WithWildcard<Events> & string>(event: E): Function[];
  rawListeners<E extends keyof WithWildcard<Events> & string>(event: E): Function[];
  listenerCount<E extends keyof WithWildcard<Events> & string>(event: E): number;
  eventNames(): string[];
}

export interface StageEvents {
  stageStatusUpdate: (status: StageStatus) => void;
  stageAccessRequestUpdate: (requests: StageRequestPayload[]) => void;
  newStageRequest: (payload: { count: number }) => void;
  stageRequestApproved: () => void;
  stageRequestRejected: () => void;
  /** The user was granted or invited to the stage (documented by RealtimeKit, absent from its 2.0.2 types). */
  acceptPresentRequests: () => void;
}

/**
 * meeting.stage. Every action resolves once the server committed it and `status` already shows it, and rejects if
 * the server refused (RealtimeKit resolves before any answer). Events come in RealtimeKit's order: newStageRequest
 * before stageAccessRequestUpdate; stageRequestApproved / stageRequestRejected / acceptPresentRequests before the
 * stageStatusUpdate they cause.
 */
export interface Stage extends Emitter<StageEvents> {
  readonly status: StageStatus;
  readonly peerId: string;
  /** OFF_STAGE → REQUESTED_TO_JOIN_STAGE (ALLOWED users: stays ACCEPTED, nothing queued). */
  requestAccess(): Promise<void>;
  /** REQUESTED → OFF_STAGE; with nothing pending (OFF_STAGE) it resolves and changes nothing. */
  cancelRequestAccess(): Promise<void>;
  /** Needs acceptStageRequests. Accepts requesters and invites others; all ids or none. */
  grantAccess(userIds: string[]): Promise<void>;
  denyAccess(userIds: string[]): Promise<void>;
  /** ON_STAGE or ACCEPTED → OFF_STAGE (ALLOWED users → ACCEPTED); resolves with the request's id and the server's answer (UTF-8 JSON). */
  kick(userIds: string[]): Promise<{ id: string; payload: Uint8Array }>;
  /**
   * ACCEPTED_TO_JOIN_STAGE → ON_STAGE; publishes the enabled audio/video and resolves once the media server
   * answered. If publishing fails it rejects (4041, or the signaling code) with the status ON_STAGE all the same.
   */
  join(): Promise<void>;
  /**
   * ON_STAGE → OFF_STAGE (ALLOWED users → ACCEPTED); from ACCEPTED it declines an invitation. Leaving ON_STAGE
   * (also by a kick) unpublishes and disables self's audio and video, stopping the tracks the SDK acquired.
   */
  leave(): Promise<void>;
  /**
   * Synchronous, as in RealtimeKit: the pending requests the client holds (server-confirmed, kept current by the
   * server's events). Throws a ClientError 2001 without acceptStageRequests, 2003 if the preset has no stage.
   */
  getAccessRequests(): { stageRequests: StageRequestPayload[] };
}

/** RealtimeKit's permissionsUpdate patch: the media whose stage-aware canProduce changed. */
export interface PermissionsPatch {
  media?: { audio?: { canProduce: MediaProductionPermissionType }; video?: { canProduce: MediaProductionPermissionType }; screenshare?: { canProduce: MediaProductionPermissionType } };
  stageEnabled?: boolean;
  stageAccess?: StageAccess;
  acceptStageRequests?: boolean;
  seeAllParticipants?: boolean;
  hiddenParticipant?: boolean;
}

export interface PermissionEvents {
  /** RealtimeKit's patch of the values that changed: a stage status change changed a canProduce (media), or an admin changed the preset over REST (its fields by name). */
  permissionsUpdate: (patch: PermissionsPatch) => void;
}

/** self.permissions: one stable object (RealtimeKit's PermissionPreset), the preset's permissions from the server. */
export interface Permissions extends Emitter<PermissionEvents> {
  readonly stageEnabled: boolean;
  readonly stageAccess: StageAccess;
  readonly acceptStageRequests: boolean;
  /** Sees every participant (hosts do anyway); off for webinar audiences (this SDK's addition). */
  readonly seeAllParticipants: boolean;
  /**
   * RealtimeKit's stage-aware values: audio and video go with the stage (stageAccess), the screen share with the
   * preset's media.screenshare.can_produce; CAN_REQUEST reads ALLOWED while the user is accepted or on stage, and
   * ALLOWED reads NOT_ALLOWED while it is off stage or has only asked; a kind the preset's media.<kind>.can_produce
   * forbids reads NOT_ALLOWED.
   */
  readonly canProduceAudio: MediaProductionPermissionType;
  readonly canProduceVideo: MediaProductionPermissionType;
  /** The preset's hidden_participant: kept out of everyone's participant lists and the count. */
  readonly hiddenParticipant: boolean;
  readonly canProduceScreenshare: MediaProductionPermissionType;
  // Features this SDK does not have: showParticipantList and canEditDisplayName are true, the others false (typed
  // as RealtimeKit types them, so that code comparing them compiles).
  readonly acceptWaitingRequests: boolean;
  readonly requestProduceAudio: boolean;
  readonly requestProduceVideo: boolean;
  readonly requestProduceScreenshare: boolean;
  readonly kickParticipant: boolean;
  readonly pinParticipant: boolean;
  readonly canAllowParticipantAudio: boolean;
  readonly canAllowParticipantScreensharing: boolean;
  readonly canAllowParticipantVideo: boolean;
  readonly canDisableParticipantAudio: boolean;
  readonly canDisableParticipantVideo: boolean;
  readonly canRecord: boolean;
  readonly canSpotlight: boolean;
  readonly canLivestream: boolean;
  readonly canEditDisplayName: boolean;
  readonly canChangeParticipantPermissions: boolean;
  readonly isRecorder: boolean;
  readonly showParticipantList: boolean;
  readonly transcriptionEnabled: boolean;
  readonly chatPublic: { readonly canSend: boolean; readonly text: boolean; readonly files: boolean };
  readonly chatPrivate: { readonly canSend: boolean; readonly canReceive?: boolean; readonly text: boolean; readonly files: boolean };
  readonly polls: { readonly canCreate: boolean; readonly canVote: boolean; readonly canView: boolean };
  readonly plugins: { readonly canStart: boolean; readonly canClose: boolean; readonly canEditConfig?: boolean; readonly config: object };
  readonly connectedMeetings: { readonly canAlterConnectedMeetings: boolean; readonly canSwitchConnectedMeetings: boolean; readonly canSwitchToParentMeeting: boolean };
}

/**
 * The track type of this SDK's declarations: a track is null while its medium is off (what the runtime holds; RealtimeKit's
 * types say MediaStreamTrack and its runtime has none then either). stagekit/realtimekit instantiates the same
 * interfaces with MediaStreamTrack, RealtimeKit's type.
 */
export type Track = MediaStreamTrack | null;

export interface AudioUpdate<T = Track> {
  audioEnabled: boolean;
  audioTrack: T;
}
export interface VideoUpdate<T = Track> {
  videoEnabled: boolean;
  videoTrack: T;
}
/** A screen share's tracks: video while shared, audio where the browser gave the screen's sound. */
export interface ScreenShareTracks<T = Track> {
  audio: T;
  video: T;
}
export interface ScreenShareUpdate<T = Track> {
  screenShareEnabled: boolean;
  screenShareTracks: ScreenShareTracks<T>;
}

export interface ParticipantEvents<T = Track> {
  /** Another participant's stage status changed; the payload is the participant itself. */
  stageStatusUpdate: (participant: Participant<T>) => void;
  audioUpdate: (update: AudioUpdate<T>) => void;
  videoUpdate: (update: VideoUpdate<T>) => void;
  /** The participant started or stopped sharing its screen. */
  screenShareUpdate: (update: ScreenShareUpdate<T>) => void;
  /** StageKit: the participant started or stopped reconnecting (participant.reconnecting); the payload is the participant. */
  connectionUpdate: (participant: Participant<T>) => void;
}

/** A participant: the other users' objects in meeting.participants; its fields are updated before its events fire. */
export interface Participant<T = Track> extends Emitter<ParticipantEvents<T>> {
  /** The peer id. */
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly presetName: string;
  readonly stageStatus: StageStatus;
  /** The id the host application gave when it added the participant (REST `custom_participant_id`), if any. */
  readonly customParticipantId?: string;
  /** Whether the participant's preset accepts stage requests (a host). */
  readonly isHost: boolean;
  /** StageKit: its connection dropped or its media went silent, and the grace period keeps its place (connectionUpdate). */
  readonly reconnecting: boolean;
  /** The participant's tracks while it is ON_STAGE and publishing them. */
  readonly audioTrack: T;
  readonly videoTrack: T;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
  /** Its screen share while it is ON_STAGE and sharing. */
  readonly screenShareEnabled: boolean;
  readonly screenShareTracks: ScreenShareTracks<T>;
  /** This server has no pictures: undefined, as RealtimeKit's participants without one. */
  readonly picture?: string;
  /** No pinning or hidden tiles in this SDK: always false; flags is empty. */
  readonly isPinned: boolean;
  readonly hidden: boolean;
  readonly flags: { [key: string]: string | boolean };
  /** Always false: no remote control. */
  readonly supportsRemoteControl: boolean;
  /** The SDK keeps the element showing the participant's videoTrack as it changes (RealtimeKit's). */
  registerVideoElement(videoElem: HTMLVideoElement): void;
  deregisterVideoElement(videoElem?: HTMLVideoElement): void;
}

/** RealtimeKit's self.roomState values; this SDK reaches init, joined, left, kicked and failed. */
export type RoomState = "init" | "joined" | "waitlisted" | LeaveRoomState;
/**
 * RealtimeKit's reasons for leaving; this SDK gives left (meeting.leave()), kicked (removed by an admin) and failed
 * (the session ended otherwise).
 */
export type LeaveRoomState = "kicked" | "ended" | "left" | "rejected" | "connected-meeting" | "disconnected" | "failed" | "stageLeft";

/** RealtimeKit's media permission states; this SDK gives NOT_REQUESTED, ACCEPTED, DENIED and COULD_NOT_START. */
export type MediaPermission = "NOT_REQUESTED" | "ACCEPTED" | "DENIED" | "SYSTEM_DENIED" | "COULD_NOT_START" | "NO_DEVICES_AVAILABLE" | "CANCELED";

export interface SelfEvents<T = Track> {
  /** The local user's status changed; the payload is meeting.self (as a participant's). stage emits the status. */
  stageStatusUpdate: (self: Self<T>) => void;
  audioUpdate: (update: AudioUpdate<T>) => void;
  videoUpdate: (update: VideoUpdate<T>) => void;
  screenShareUpdate: (update: ScreenShareUpdate<T>) => void;
  /** Joined the room (meeting.join()), or back after a reconnect ({reconnected: true}). */
  roomJoined: (payload: { reconnected: boolean }) => void;
  /** Left the room: meeting.leave(), or the session ended for good. A reconnect within the grace period is no leave. */
  roomLeft: (payload: { state: LeaveRoomState }) => void;
  /** An enable call settled a medium's permission (mediaPermissions). */
  mediaPermissionUpdate: (payload: { kind: "audio" | "video" | "screenshare"; message: MediaPermission }) => void;
  /** setDevice changed a device. */
  deviceUpdate: (payload: { device: MediaDeviceInfo; preview: boolean }) => void;
}

/**
 * self.config, RealtimeKit's ThemePreset (the preset's UI configuration): its default webinar UI, with the controls
 * of features this SDK does not have (chat, polls, plugins) off and the screen share control where the preset allows it.
 */
export interface UIConfig {
  readonly name: string;
  readonly viewType: string;
  readonly setupScreen: { isEnabled: boolean };
  readonly waitingRoom: { isEnabled: boolean };
  readonly controlBar: {
    isEnabled: boolean;
    elements?: { chat?: boolean; fullscreen?: boolean; invite?: boolean; layout?: boolean; participants?: boolean; plugins?: boolean; polls?: boolean; reactions?: boolean; screenshare?: boolean };
  };
  readonly header: { isEnabled: boolean; elements: { logo: string; timer: boolean; title: boolean; participantCount: boolean; changeLayout: boolean } };
  readonly pipMode: boolean;
  readonly livestreamViewerQualities: string[];
  readonly maxVideoStreams: { mobile: number; desktop: number };
  /** The preset's max_screenshare_count. */
  readonly maxScreenShareCount: number;
  readonly plugins: string[];
  readonly disabledPlugins: string[];
  /** RealtimeKit's default design tokens. */
  readonly designTokens: {
    borderRadius: string;
    borderWidth: string;
    spacingBase: number;
    theme: string;
    colors: { brand: { [shade: number]: string }; background: { [shade: number]: string }; danger: string; text: string; textOnBrand: string; success: string; videoBg: string; warning: string };
    logo?: string;
    fontFamily?: string;
    googleFont?: string;
  };
  readonly configDiff: object;
  readonly isSimulcastEnabled: boolean;
  readonly mediaConstraints: object;
}

export interface Self<T = Track> extends Emitter<SelfEvents<T>> {
  /** The peer id (also peerId). */
  readonly id: string;
  readonly peerId: string;
  readonly userId: string;
  readonly name: string;
  readonly presetName: string;
  readonly stageStatus: StageStatus;
  /** The id the host application gave when it added the participant (REST `custom_participant_id`), if any. */
  readonly customParticipantId?: string;
  readonly isHost: boolean;
  readonly roomJoined: boolean;
  readonly roomState: RoomState;
  readonly permissions: Permissions;
  /** RealtimeKit's UI configuration for this user's preset (a new object on every read). */
  readonly config: UIConfig;
  readonly audioTrack: T;
  readonly videoTrack: T;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
  readonly screenShareEnabled: boolean;
  readonly screenShareTracks: ScreenShareTracks<T>;
  /** What the browser said to each medium (set by the enable calls). */
  readonly mediaPermissions: { audio?: MediaPermission; video?: MediaPermission; screenshare?: MediaPermission };
  /** This server has no pictures: undefined, as RealtimeKit's without one. */
  readonly picture?: string;
  /** No hidden tiles, pinning or waiting room in this SDK: always these values. */
  readonly hidden: boolean;
  readonly isPinned: boolean;
  /** Always none: no waiting room. */
  readonly waitlistStatus: "accepted" | "waiting" | "rejected" | "none";
  /** Before join: the name others see (the join carries it). Throws 4005 for an empty name, one over 256 bytes, or after join. */
  setName(name: string): void;
  /**
   * Turns the microphone on (getUserMedia), or uses the track given (which the SDK never stops); published while
   * ON_STAGE, a preview otherwise. Emits audioUpdate. Rejects 4042 if the device cannot be used.
   */
  enableAudio(track?: MediaStreamTrack): Promise<void>;
  /** As enableAudio, for the camera; emits videoUpdate. */
  enableVideo(track?: MediaStreamTrack): Promise<void>;
  /** Stops publishing the medium and stops its track if the SDK acquired it; emits audioUpdate/videoUpdate. */
  disableAudio(): Promise<void>;
  disableVideo(): Promise<void>;
  /**
   * The browser's screen picker (getDisplayMedia), then the screen (and its sound, if given) published beside the
   * camera and microphone; emits screenShareUpdate. Rejects 2001 if the preset forbids screen share, 2006 off
   * stage, 2106 when the room has as many shares as the preset's max_screenshare_count, 4042 if the browser refused.
   */
  enableScreenShare(): Promise<void>;
  /** Stops the screen share. Leaving the stage (or a kick) stops it too. */
  disableScreenShare(): Promise<void>;
  /** RealtimeKit's setupTracks: turns on the media asked for (true); with forceReset, turns off the others. */
  setupTracks(options?: { audio?: boolean; video?: boolean; forceReset?: boolean }): Promise<void>;
  /** The browser's devices (enumerateDevices). */
  getAllDevices(): Promise<MediaDeviceInfo[]>;
  getAudioDevices(): Promise<MediaDeviceInfo[]>;
  getVideoDevices(): Promise<MediaDeviceInfo[]>;
  getSpeakerDevices(): Promise<MediaDeviceInfo[]>;
  getDeviceById(deviceId: string, kind: "audio" | "video" | "speaker"): Promise<MediaDeviceInfo | undefined>;
  /** The devices in use: the live track's, else the chosen or the default one (undefined before the first listing). */
  getCurrentDevices(): { audio?: MediaDeviceInfo; video?: MediaDeviceInfo; speaker?: MediaDeviceInfo };
  /** Uses the device: a camera or microphone that is on is reopened on it and republished; emits deviceUpdate. */
  setDevice(device: MediaDeviceInfo): Promise<void>;
  registerVideoElement(videoElem: HTMLVideoElement, isPreview?: boolean): void;
  deregisterVideoElement(videoElem?: HTMLVideoElement, isPreview?: boolean): void;
}

export interface ParticipantMapEvents<T = Track> {
  participantJoined: (participant: Participant<T>) => void;
  participantLeft: (participant: Participant<T>) => void;
  /** The participants' own events, re-emitted with the participant first. */
  stageStatusUpdate: (participant: Participant<T>) => void;
  audioUpdate: (participant: Participant<T>, update: AudioUpdate<T>) => void;
  videoUpdate: (participant: Participant<T>, update: VideoUpdate<T>) => void;
  screenShareUpdate: (participant: Participant<T>, update: ScreenShareUpdate<T>) => void;
  connectionUpdate: (participant: Participant<T>) => void;
}

/** RealtimeKit's participant map: a Map (peer id → participant) with toArray(), and an emitter. */
export interface ParticipantMap<T = Track> extends Map<string, Participant<T>>, Emitter<ParticipantMapEvents<T>> {
  toArray(): Participant<T>[];
}

export interface ParticipantsEvents {
  /** The room's participant count changed; sent at most about once a second. */
  countUpdate: (count: number) => void;
}

export interface Participants<T = Track> extends Emitter<ParticipantsEvents> {
  /**
   * The other participants the user may see: everyone for hosts (and presets with seeAllParticipants); for the
   * audience, those on stage and those whose preset is ALLOWED on it. A participant coming on stage joins this map
   * (participantJoined), one leaving the stage leaves it (stageStatusUpdate, then participantLeft).
   */
  readonly joined: ParticipantMap<T>;
  /** Those of joined who are ON_STAGE (RealtimeKit's active grid). */
  readonly active: ParticipantMap<T>;
  /** The same participants as joined (RealtimeKit lists the whole meeting; a webinar's audience is not listed here). */
  readonly all: ParticipantMap<T>;
  /** Always empty: no waiting room, no pinning in this SDK. */
  readonly waitlisted: ParticipantMap<T>;
  readonly pinned: ParticipantMap<T>;
  /** The room's participant count, the local user included, also where the user sees only the stage. */
  readonly count: number;
  /** Always ACTIVE_GRID on one page: every participant on stage (the kit shows the user its own tile too). */
  readonly viewMode: "ACTIVE_GRID" | "PAGINATED" | "MANUAL";
  readonly currentPage: number;
  readonly pageCount: number;
  readonly maxActiveParticipantsCount: number;
  /** Accepted; the view stays ACTIVE_GRID. */
  setViewMode(viewMode: "ACTIVE_GRID" | "PAGINATED" | "MANUAL"): Promise<void>;
  setPage(page: number): Promise<void>;
  /** The documented shorthand for joined.toArray() (RealtimeKit 2.0.2 itself lacks it). */
  toArray(): Participant<T>[];
}

/**
 * RealtimeKit's socket state, as meta.socketState and socketConnectionUpdate give it: connected (reconnected after
 * a reconnect), reconnecting, disconnected (after meeting.leave()), failed (the session ended). RealtimeKit's
 * reconnectionAttempt is not counted here.
 */
export interface SocketConnectionState {
  state: "connected" | "reconnecting" | "disconnected" | "failed";
  reconnected: boolean;
}

/** A media connection's state, RealtimeKit's: recv is the connection that receives, send the one that publishes. */
export interface MediaConnectionUpdate {
  transport: "send" | "recv";
  state: "new" | "connecting" | "reconnecting" | "disconnected" | "connected" | "failed" | "closed";
}

export interface MetaEvents {
  socketConnectionUpdate: (state: SocketConnectionState) => void;
  /** A media connection's ICE went silent (disconnected), is being restarted (reconnecting), or is up again (connected). */
  mediaConnectionUpdate: (update: MediaConnectionUpdate) => void;
  selfTabUpdate: (tab: { type: string; id: string }) => void;
}

/** meeting.meta, RealtimeKit's meeting metadata. */
export interface Meta extends Emitter<MetaEvents> {
  /** The preset's view_type (GROUP_CALL, WEBINAR, AUDIO_ROOM, LIVESTREAM); by default WEBINAR for presets with a stage, GROUP_CALL otherwise (typed string, as RealtimeKit types it). */
  readonly viewType: string;
  readonly meetingId: string;
  /** The meeting's title (REST POST /v1/meetings {title}). */
  readonly meetingTitle: string;
  /** When the room's session started on the server (undefined before join). */
  readonly meetingStartedTimestamp: Date | undefined;
  readonly socketState: SocketConnectionState;
  /** The media connections' last states (mediaConnectionUpdate). */
  readonly mediaState: { recv: { state: MediaConnectionUpdate["state"] }; send: { state: MediaConnectionUpdate["state"] } };
  /** The tab (a screen share) the user looks at: kept locally, not synced to others. */
  readonly selfActiveTab: { type: string; id: string } | undefined;
  readonly broadcastTabChanges: boolean;
  setSelfActiveTab(tab: { type: string; id: string }, reason?: number): void;
}

export interface MeetingEvents {
  reconnecting: () => void;
  reconnected: () => void;
  disconnected: (error: ClientError) => void;
}

/** Inert stand-ins for RealtimeKit features this SDK does not have, present where the UI kit reads them unguarded. */
export interface ConnectedMeetings extends Emitter<{ [event: string]: Listener }> {
  readonly isActive: false;
  readonly meetings: readonly unknown[];
  readonly parentMeeting: undefined;
  getConnectedMeetings(): Promise<{ parentMeeting: undefined; meetings: unknown[] }>;
  /** These reject with 2001: breakout rooms are not a StageKit feature. */
  createMeetings(...args: unknown[]): Promise<never>;
  updateMeetings(...args: unknown[]): Promise<never>;
  deleteMeetings(...args: unknown[]): Promise<never>;
  moveParticipants(...args: unknown[]): Promise<never>;
}
export interface Recording extends Emitter<{ [event: string]: Listener }> {
  readonly recordingState: "IDLE";
  readonly recordings: readonly unknown[];
  /** These reject with 2001: recording is not a StageKit feature. */
  start(): Promise<never>;
  stop(): Promise<never>;
  pause(): Promise<never>;
  resume(): Promise<never>;
}
/** What the UI kit reads of RealtimeKit's internals: a logger (silent unless globalThis.__stagekitDebug) and the browser. */
export interface Internals {
  readonly logger: { info(...args: unknown[]): void; debug(...args: unknown[]): void; log(...args: unknown[]): void; warn(...args: unknown[]): void; error(...args: unknown[]): void };
  readonly browserSpecs: { isFirefox(): boolean; isChrome(): boolean; isSafari(): boolean; isMobile(): boolean };
}

export interface Meeting<T = Track> extends Emitter<MeetingEvents> {
  readonly stage: Stage;
  readonly self: Self<T>;
  readonly participants: Participants<T>;
  readonly meta: Meta;
  readonly connectedMeetings: ConnectedMeetings;
  readonly recording: Recording;
  readonly __internals__: Internals;
  /** Joins the room (signaling). */
  join(): Promise<void>;
  leave(): Promise<void>;
}

export interface LoadProgress {
  phase: "download" | "start" | "ready";
  loaded?: number;
  total?: number;
}

export interface InitOptions {
  authToken: string;
  /** The server's origin; defaults to the page's. */
  baseURI?: string;
  /** RealtimeKit's media defaults: true turns the microphone/camera on before init resolves (default: off). */
  defaults?: { audio?: boolean; video?: boolean };
  /** Receives the ClientError of a failed init, of a media default that failed, and of a session that ended. */
  onError?: (error: ClientError) => void;
  /** Told how far the wasm download and start-up are. */
  onProgress?: (progress: LoadProgress) => void;
}

declare const StageKit: {
  /** Loads the SDK once per page and authenticates; rejects with a ClientError for a bad token or an unreachable server. */
  init(options: InitOptions): Promise<Meeting>;
};

export default StageKit;
