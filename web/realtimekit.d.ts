// Type declarations for stagekit/realtimekit: this SDK under @cloudflare/realtimekit 2.0.2's names, so that code
// typed against RealtimeKit compiles against StageKit through a bundler/tsconfig alias of @cloudflare/realtimekit.
import type {
  Meeting, InitOptions, Participant, Participants, ParticipantMap, Self, Permissions, Meta, Stage, StageStatus,
  StageRequestPayload, SocketConnectionState, LeaveRoomState, MediaProductionPermissionType, MediaPermission, UIConfig,
} from "./stagekit.js";
import { ClientError } from "./stagekit.js";

export { ClientError };
export type {
  StageStatus, StageRequestPayload, SocketConnectionState, LeaveRoomState, MediaProductionPermissionType, Stage,
};
export type { LeaveRoomState as leaveRoomState };

// RealtimeKit's types declare tracks MediaStreamTrack (never null), so the same interfaces are instantiated with
// that track type here: code RealtimeKit's types accept (`const t: MediaStreamTrack = p.videoTrack`) compiles
// unchanged. The runtime is the same as stagekit's: a track is null while its medium is off, as RealtimeKit's is.
type RTKTrack = MediaStreamTrack;
export type RTKParticipant = Participant<RTKTrack>;
export type RTKParticipants = Participants<RTKTrack>;
export type RTKParticipantMap = ParticipantMap<RTKTrack>;
export type RTKSelf = Self<RTKTrack>;
export type RTKSelfMedia = Self<RTKTrack>;
export type RTKPermissionsPreset = Permissions;
export type RTKMeta = Meta;
export type { MediaPermission, UIConfig as RTKThemePreset };

/**
 * RealtimeKit's init options. authToken, baseURI (here: the StageKit server's origin), defaults {audio, video} and
 * onError are used; modules, overrides and cachedUserDetails are accepted and have no effect.
 */
export interface RTKClientOptions extends InitOptions {
  modules?: { [key: string]: unknown };
  overrides?: { [key: string]: unknown };
  cachedUserDetails?: unknown;
}

/** RealtimeKit's request-to-join kinds. */
export declare const RequestToJoinType: { readonly PRESENT: "REQUEST_TO_PRESENT" };

/** A meeting: RealtimeKit's client object. */
interface RealtimeKitClient extends Meeting<RTKTrack> {}
declare const RealtimeKitClient: {
  /** Loads the SDK once per page and authenticates; rejects with a ClientError for a bad token or an unreachable server. */
  init(options: RTKClientOptions): Promise<RealtimeKitClient>;
};
export default RealtimeKitClient;
