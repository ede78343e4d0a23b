// React bindings for StageKit: a provider for the meeting and a selector hook
// that re-renders when the selected value changes on any meeting, stage or
// participant event — the SDK's counterpart of RealtimeKit's
// `useRealtimeKitSelector((m) => m.stage.status)`.
//
//   <StageKitProvider value={meeting}>
//     <Status />
//   </StageKitProvider>
//   function Status() { return useStageSelector((m) => m.stage.status); }
import { createContext, createElement, useCallback, useContext, useRef, useSyncExternalStore } from "react";

const MeetingContext = createContext(null);

/** Makes a meeting (from StageKit.init) available to the hooks below. */
export function StageKitProvider({ value, children }) {
  return createElement(MeetingContext.Provider, { value }, children);
}

/** The meeting given to the nearest StageKitProvider (or null). */
export function useStageKitMeeting() {
  return useContext(MeetingContext);
}

// Shallow equality, so selectors may return fresh arrays or objects of the
// same contents without re-rendering.
function shallowEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && Object.is(a[k], b[k]));
}

// Every emitter whose events can change what a selector reads (the ones
// RealtimeKit's provider listens to that a StageKit meeting has).
export function subscribeAll(meeting, onChange) {
  if (!meeting) return () => {};
  const p = meeting.participants;
  const emitters = [meeting, meeting.stage, meeting.self, meeting.meta, p, p?.joined, p?.active, p?.waitlisted].filter(
    (em) => em && typeof em.on === "function",
  );
  for (const em of emitters) em.on("*", onChange);
  return () => emitters.forEach((em) => em.off("*", onChange));
}

/**
 * Returns selector(meeting), re-rendering when its value (compared shallowly)
 * changes after any meeting, stage, self or participant event.
 * @template T
 * @param {(meeting: import("./stagekit.js").Meeting) => T} selector
 * @returns {T | undefined}
 */
export function useStageSelector(selector) {
  const meeting = useContext(MeetingContext);
  const last = useRef({ has: false, value: undefined });
  const subscribe = useCallback((onChange) => subscribeAll(meeting, onChange), [meeting]);
  const getSnapshot = () => {
    const value = meeting ? selector(meeting) : undefined;
    if (last.current.has && shallowEqual(last.current.value, value)) return last.current.value;
    last.current = { has: true, value };
    return value;
  };
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}
