// Type declarations for stagekit/realtimekit-react: @cloudflare/realtimekit-react 2.0.2's API on a StageKit meeting.
import type { ReactNode, ReactElement, Context } from "react";
import type RealtimeKitClient from "./realtimekit.js";
import type { RTKClientOptions } from "./realtimekit.js";

export type {
  RTKParticipant, RTKParticipants, RTKParticipantMap, RTKSelf, RTKSelfMedia, RTKPermissionsPreset, RTKMeta,
  StageStatus, LeaveRoomState, leaveRoomState, SocketConnectionState,
} from "./realtimekit.js";

/** The selectors' change feed (RealtimeKit's RTKUpdates). */
export interface RTKUpdates {
  addListener(listener: () => void): void;
  removeListener(listener: () => void): void;
}

export declare const RealtimeKitContext: Context<{ meeting: RealtimeKitClient | undefined; updates: RTKUpdates | undefined }>;

/** Makes the meeting available to the hooks; renders fallback until value is set. */
export declare function RealtimeKitProvider(props: {
  value: RealtimeKitClient | undefined;
  children: ReactNode;
  fallback?: ReactNode;
}): ReactElement;

/** { meeting } from the nearest RealtimeKitProvider; throws outside one. */
export declare function useRealtimeKitMeeting(): { meeting: RealtimeKitClient };

/**
 * [meeting, initMeeting]: the meeting is undefined until initMeeting(options) resolves (as at RealtimeKit's
 * runtime, whose types omit the undefined). With resetOnLeave it is cleared when the user leaves the room.
 */
export declare function useRealtimeKitClient(clientParams?: {
  resetOnLeave?: boolean;
}): [RealtimeKitClient | undefined, (options: RTKClientOptions) => Promise<RealtimeKitClient | undefined>];

/** selector(meeting), re-rendered when its value changes (shallowly) after any meeting, stage, self, participant or meta event. */
export declare function useRealtimeKitSelector<T>(selector: (meeting: RealtimeKitClient) => T): T;
