// Type declarations for stagekit/realtimekit: this SDK under @cloudflare/realtimekit 2.0.2's names, so that code
// typed against RealtimeKit compiles against StageKit through a bundler/tsconfig alias of @cloudflare/realtimekit.
import type {
  Meeting, InitOptions, Participant, Participants, ParticipantMap, Self, Permissions, Meta, Stage, StageStatus,
  StageRequestPayload, SocketConnectionState, LeaveRoomState, MediaProductionPermissionType,
} from "./stagekit.js";
import { ClientError } from "./stagekit.js";

export { ClientError };
export type {
  StageStatus, StageRequestPayload, SocketConnectionState, LeaveRoomState, MediaProductionPermissionType, Stage,
};
export type { LeaveRoomState as leaveRoomState };

export type RTKParticipant = Readonly<Participant>;
export type RTKParticipants = Readonly<Participants>;
export type RTKParticipantMap = Readonly<ParticipantMap>;
export type RTKSelf = Readonly<Self>;
export type RTKSelfMedia = Readonly<Self>;
export type RTKPermissionsPreset = Readonly<Permissions>;
export type RTKMeta = Readonly<Meta>;

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
interface RealtimeKitClient extends Meeting {}
declare const RealtimeKitClient: {
  /** Loads the SDK once per page and authenticates; rejects with a ClientError for a bad token or an unreachable server. */
  init(options: RTKClientOptions): Promise<RealtimeKitClient>;
};
export default RealtimeKitClient;
