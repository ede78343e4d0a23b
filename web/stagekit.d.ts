// Type declarations for the StageKit browser SDK (RealtimeKit meeting.stage compatible).

export type StageStatus = "OFF_STAGE" | "REQUESTED_TO_JOIN_STAGE" | "ACCEPTED_TO_JOIN_STAGE" | "ON_STAGE";

export type StageAccess = "ALLOWED" | "CAN_REQUEST" | "NOT_ALLOWED";

/** A pending request to join the stage; requests are listed oldest first. */
export interface StageRequestPayload {
  displayName: string;
  userId: string;
  peerId: string;
  /** When the request was made, in ms since the epoch (this SDK's addition). */
  requestedAt: number;
}

/**
 * Every failing call rejects with a ClientError: `code` is a string such as "2006"; the message starts with "[ERR<code>]".
 * Media codes: "4041" the media negotiation failed; "4042" the camera or microphone cannot be used
 * (getUserMedia refused or failed; the browser's error name is in the message); "4005" a track of the wrong kind, or ended.
 */
export declare class ClientError extends Error {
  readonly name: "ClientError";
  readonly code: string;
  /** User ids a refused batch named, when the server gave them. */
  readonly userIds?: string[];
}

export type Listener = (...args: any[]) => void;

export interface Emitter<Events extends Record<string, (...args: any[]) => void>> {
  /** Adds a listener; returns a function that removes it. `'*'` receives (eventName, ...args). */
  on<K extends keyof Events>(event: K, cb: Events[K]): () => void;
  on(event: "*", cb: (event: string, ...args: any[]) => void): () => void;
  off<K extends keyof Events>(event: K, cb: Events[K]): void;
  off(event: "*", cb: (event: string, ...args: any[]) => void): void;
  once<K extends keyof Events>(event: K, cb: Events[K]): () => void;
  removeAllListeners(event?: keyof Events | "*"): void;
  listenerCount(event: keyof Events | "*"): number;
}

export interface StageEvents {
  stageStatusUpdate: (status: StageStatus) => void;
  stageAccessRequestUpdate: (requests: StageRequestPayload[]) => void;
  newStageRequest: (payload: { count: number }) => void;
  stageRequestApproved: () => void;
  stageRequestRejected: () => void;
  acceptPresentRequests: () => void;
}

export interface Stage extends Emitter<StageEvents> {
  readonly status: StageStatus;
  readonly peerId: string;
  /** OFF_STAGE → REQUESTED_TO_JOIN_STAGE (ALLOWED users: stays ACCEPTED). Resolves once the server committed it. */
  requestAccess(): Promise<void>;
  cancelRequestAccess(): Promise<void>;
  /** Needs acceptStageRequests. Accepts requesters and invites others; all ids or none. */
  grantAccess(userIds: string[]): Promise<void>;
  denyAccess(userIds: string[]): Promise<void>;
  kick(userIds: string[]): Promise<void>;
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
  getAccessRequests(): Promise<{ stageRequests: StageRequestPayload[] }>;
}

export interface Permissions {
  stageEnabled: boolean;
  stageAccess: StageAccess;
  acceptStageRequests: boolean;
  /** Sees every participant (hosts do anyway); off for webinar audiences. */
  seeAllParticipants: boolean;
}

export interface ParticipantEvents {
  stageStatusUpdate: (participant: Participant) => void;
  audioUpdate: (update: { audioEnabled: boolean; audioTrack: MediaStreamTrack | null }) => void;
  videoUpdate: (update: { videoEnabled: boolean; videoTrack: MediaStreamTrack | null }) => void;
}

export interface Participant extends Emitter<ParticipantEvents> {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly presetName: string;
  readonly stageStatus: StageStatus;
  readonly audioTrack: MediaStreamTrack | null;
  readonly videoTrack: MediaStreamTrack | null;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
}

export interface SelfEvents extends ParticipantEvents {
  roomJoined: () => void;
  roomLeft: () => void;
}

export interface Self extends Emitter<SelfEvents> {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  readonly presetName: string;
  readonly stageStatus: StageStatus;
  readonly roomJoined: boolean;
  readonly permissions: Permissions;
  readonly audioTrack: MediaStreamTrack | null;
  readonly videoTrack: MediaStreamTrack | null;
  readonly audioEnabled: boolean;
  readonly videoEnabled: boolean;
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
}

export interface JoinedEvents {
  participantJoined: (participant: Participant) => void;
  participantLeft: (participant: Participant) => void;
  stageStatusUpdate: (participant: Participant) => void;
  audioUpdate: (participant: Participant, update: { audioEnabled: boolean; audioTrack: MediaStreamTrack | null }) => void;
  videoUpdate: (participant: Participant, update: { videoEnabled: boolean; videoTrack: MediaStreamTrack | null }) => void;
}

export interface ParticipantMap extends Emitter<JoinedEvents> {
  readonly size: number;
  get(peerId: string): Participant | undefined;
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
  /** The room's participant count, the local user included, also where the user sees only the stage. */
  readonly count: number;
  /** The documented shorthand for joined.toArray(). */
  toArray(): Participant[];
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
  /** Told how far the wasm download and start-up are. */
  onProgress?: (progress: LoadProgress) => void;
}

declare const StageKit: {
  /** Loads the SDK once per page and authenticates; rejects with a ClientError for a bad token or an unreachable server. */
  init(options: InitOptions): Promise<Meeting>;
};

export default StageKit;
