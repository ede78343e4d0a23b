// Type declarations for stagekit/react.
import type { ReactNode, ReactElement } from "react";
import type { Meeting } from "./stagekit.js";

/** Makes a meeting (from StageKit.init) available to useStageSelector. */
export declare function StageKitProvider(props: { value: Meeting | null | undefined; children?: ReactNode }): ReactElement;

/** The meeting given to the nearest StageKitProvider, or null. */
export declare function useStageKitMeeting(): Meeting | null;

/**
 * Returns selector(meeting), re-rendering when its value (compared shallowly)
 * changes after any meeting, stage, self or participant event.
 */
export declare function useStageSelector<T>(selector: (meeting: Meeting) => T): T | undefined;

/**
 * Subscribes onChange to every emitter of the meeting whose events can change what a selector reads ('*' on the
 * meeting, stage, self, meta, participants and its maps); returns the function that unsubscribes.
 */
export declare function subscribeAll(meeting: Meeting | null | undefined, onChange: () => void): () => void;
