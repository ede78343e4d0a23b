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

export interface PermissionEvents {
  /** RealtimeKit's event: an admin changed the user's preset (REST); the patch holds the new values, which the object already shows. */
  permissionsUpdate: (patch: object) => void;
}

/** self.permissions: one stable object (RealtimeKit's PermissionPreset), the preset's permissions from the server. */
export interface Permissions extends Emitter<PermissionEvents> {
  readonly stageEnabled: boolean;
  readonly stageAccess: StageAccess;
  readonly acceptStageRequests: boolean;
  /** Sees every participant (hosts do anyway); off for webinar audiences (this SDK's addition). */
  readonly seeAllParticipants: boolean;
  /** Media goes with the stage: stageAccess, or NOT_ALLOWED without a stage or when the preset's media.<kind>.can_produce forbids it. */
  readonly canProduceAudio: MediaProductionPermissionType;
  readonly canProduceVideo: MediaProductionPermissionType;
  /** The preset's hidden_participant: kept out of everyone's participant lists and the count. */
  readonly hiddenParticipant: boolean;
  // Features this SDK does not have: canProduceScreenshare is always NOT_ALLOWED, showParticipantList true, the
  // others false (typed as RealtimeKit types them, so that code comparing them compiles).
  readonly canProduceScreenshare: MediaProductionPermissionType;
  readonly acceptWaitingRequests: boolean;
  readonly kickParticipant: boolean;
  readonly pinParticipant: boolean;
  readonly canAllowParticipantAudio: boolean;
  readonly canAllowParticipantVideo: boolean;
  readonly canDisableParticipantAudio: boolean;
  readonly canDisableParticipantVideo: boolean;
  readonly canRecord: boolean;
  readonly canSpotlight: boolean;
  readonly canLivestream: boolean;
  readonly isRecorder: boolean;
  readonly showParticipantList: boolean;
}

/** A track is null while its medium is off (RealtimeKit's types say MediaStreamTrack; its runtime has none then either). */
export interface AudioUpdate {
  audioEnabled: boolean;
  audioTrack: MediaStreamTrack | null;
}
export interface VideoUpdate {
  videoEnabled: boolean;
  videoTrack: MediaStreamTrack | null;
}

export interface ParticipantEvents {
  /** Another participant's stage status changed; the payload is the participant itself. */
  stageStatusUpdate: (participant: Participant) => void;
  audioUpdate: (update: AudioUpdate) => void;
  videoUpdate: (update: VideoUpdate) => void;
}

/** A participant: the other users' objects in meeting.participants; its fields are updated before its events fire. */
export interface Participant extends Emitter<ParticipantEvents> {
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
  /** The participant's tracks while it is ON_STAGE and publishing them. */
  readonly audioTrack: MediaStreamTrack | null;
  readonly videoTrack: MediaStreamTrack | null;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
  /** This server has no pictures: undefined, as RealtimeKit's participants without one. */
  readonly picture?: string;
  /** No pinning, hidden tiles or screen share in this SDK: always false; flags is empty. */
  readonly isPinned: boolean;
  readonly hidden: boolean;
  readonly screenShareEnabled: boolean;
  readonly flags: { [key: string]: string | boolean };
}

/** RealtimeKit's self.roomState values; this SDK reaches init, joined, left, kicked and failed. */
export type RoomState = "init" | "joined" | "waitlisted" | LeaveRoomState;
/**
 * RealtimeKit's reasons for leaving; this SDK gives left (meeting.leave()), kicked (removed by an admin) and failed
 * (the session ended otherwise).
 */
export type LeaveRoomState = "kicked" | "ended" | "left" | "rejected" | "connected-meeting" | "disconnected" | "failed" | "stageLeft";

export interface SelfEvents {
  /** The local user's status changed; the payload is meeting.self (as a participant's). stage emits the status. */
  stageStatusUpdate: (self: Self) => void;
  audioUpdate: (update: AudioUpdate) => void;
  videoUpdate: (update: VideoUpdate) => void;
  /** Joined the room (meeting.join()), or back after a reconnect ({reconnected: true}). */
  roomJoined: (payload: { reconnected: boolean }) => void;
  /** Left the room: meeting.leave(), or the session ended for good. A reconnect within the grace period is no leave. */
  roomLeft: (payload: { state: LeaveRoomState }) => void;
}

export interface Self extends Emitter<SelfEvents> {
  /** The peer id (also peerId). */
  readonly id: string;
  readonly peerId: string;
  readonly userId: string;
  readonly name: string;
  readonly presetName: string;
  readonly stageStatus: StageStatus;
  /** The id the host application gave when it added the participant (REST `custom_participant_id`), if any. */
  readonly customParticipantId?: string;
  readonly roomJoined: boolean;
  readonly roomState: RoomState;
  readonly permissions: Permissions;
  /** RealtimeKit's UI configuration (theme preset): none comes from this server, so UI kits use their defaults. */
  readonly config: Readonly<{ [key: string]: unknown }>;
  readonly audioTrack: MediaStreamTrack | null;
  readonly videoTrack: MediaStreamTrack | null;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
  /** This server has no pictures: undefined, as RealtimeKit's without one. */
  readonly picture?: string;
  /** No hidden tiles, pinning, waiting room or screen share in this SDK: always these values. */
  readonly hidden: boolean;
  readonly isPinned: boolean;
  /** Always none: no waiting room. */
  readonly waitlistStatus: "accepted" | "waiting" | "rejected" | "none";
  readonly screenShareEnabled: boolean;
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
  /** RealtimeKit's setupTracks: turns on the media asked for (true); with forceReset, turns off the others. */
  setupTracks(options?: { audio?: boolean; video?: boolean; forceReset?: boolean }): Promise<void>;
}

export interface ParticipantMapEvents {
  participantJoined: (participant: Participant) => void;
  participantLeft: (participant: Participant) => void;
  /** The participants' own events, re-emitted with the participant first. */
  stageStatusUpdate: (participant: Participant) => void;
  audioUpdate: (participant: Participant, update: AudioUpdate) => void;
  videoUpdate: (participant: Participant, update: VideoUpdate) => void;
}

/** RealtimeKit's participant map: a Map (peer id → participant) with toArray(), and an emitter. */
export interface ParticipantMap extends Map<string, Participant>, Emitter<ParticipantMapEvents> {
  toArray(): Participant[];
}

export interface ParticipantsEvents {
  /** The room's participant count changed; sent at most about once a second. */
  countUpdate: (count: number) => void;
}

export interface Participants extends Emitter<ParticipantsEvents> {
  /**
   * The other participants the user may see: everyone for hosts (and presets with seeAllParticipants); for the
   * audience, those on stage and those whose preset is ALLOWED on it. A participant coming on stage joins this map
   * (participantJoined), one leaving the stage leaves it (stageStatusUpdate, then participantLeft).
   */
  readonly joined: ParticipantMap;
  /** Those of joined who are ON_STAGE (RealtimeKit's active grid). */
  readonly active: ParticipantMap;
  /** The same participants as joined (RealtimeKit lists the whole meeting; a webinar's audience is not listed here). */
  readonly all: ParticipantMap;
  /** Always empty: no waiting room, no pinning in this SDK. */
  readonly waitlisted: ParticipantMap;
  readonly pinned: ParticipantMap;
  /** The room's participant count, the local user included, also where the user sees only the stage. */
  readonly count: number;
  /** The documented shorthand for joined.toArray() (RealtimeKit 2.0.2 itself lacks it). */
  toArray(): Participant[];
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

export interface MetaEvents {
  socketConnectionUpdate: (state: SocketConnectionState) => void;
}

/** meeting.meta, RealtimeKit's meeting metadata. */
export interface Meta extends Emitter<MetaEvents> {
  /** The preset's view_type (GROUP_CALL, WEBINAR, AUDIO_ROOM, LIVESTREAM); by default WEBINAR for presets with a stage, GROUP_CALL otherwise (typed string, as RealtimeKit types it). */
  readonly viewType: string;
  readonly meetingId: string;
  readonly socketState: SocketConnectionState;
}

export interface MeetingEvents {
  reconnecting: () => void;
  reconnected: () => void;
  disconnected: (error: ClientError) => void;
}

export interface Meeting extends Emitter<MeetingEvents> {
  readonly stage: Stage;
  readonly self: Self;
  readonly participants: Participants;
  readonly meta: Meta;
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
