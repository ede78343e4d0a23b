// stagekit/realtimekit-react: @cloudflare/realtimekit-react's API on a
// StageKit meeting, so that a RealtimeKit React app switches with a bundler
// alias (see the README):
//
//   const [meeting, initMeeting] = useRealtimeKitClient();
//   useEffect(() => { initMeeting({ authToken }); }, []);
//   <RealtimeKitProvider value={meeting} fallback={<p>Loading…</p>}><Status /></RealtimeKitProvider>
//   function Status() { return useRealtimeKitSelector((m) => m.stage.status); }
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import StageKit from "./stagekit.js";
import { subscribeAll } from "./react.js";

/** RealtimeKit's context: { meeting, updates }. */
export const RealtimeKitContext = createContext({ meeting: undefined, updates: undefined });

// Updates fans the meeting's events out to the selectors (RealtimeKit's
// RTKUpdates): one set of listeners on the meeting, held while a selector
// listens.
class Updates {
  constructor(meeting) {
    this.meeting = meeting;
    this.l = new Set();
    this.off = null;
  }
  addListener(l) {
    this.l.add(l);
    if (!this.off) this.off = subscribeAll(this.meeting, () => this.l.forEach((f) => f()));
  }
  removeListener(l) {
    this.l.delete(l);
    if (this.l.size === 0 && this.off) {
      this.off();
      this.off = null;
    }
  }
}

/** Makes a meeting available to the hooks; renders fallback until value is set. */
export function RealtimeKitProvider({ value, children, fallback }) {
  const updates = useMemo(() => (value ? new Updates(value) : undefined), [value]);
  return createElement(RealtimeKitContext.Provider, { value: { meeting: value, updates } }, value ? children : fallback);
}

/** { meeting } from the nearest RealtimeKitProvider; throws outside one, as RealtimeKit's does. */
export function useRealtimeKitMeeting() {
  const { meeting } = useContext(RealtimeKitContext);
  if (!meeting) throw new Error("useRealtimeKitMeeting must be used within the RealtimeKitProvider");
  return { meeting };
}

/**
 * [meeting, initMeeting]: initMeeting(options) runs StageKit.init once at a time and sets the meeting. With
 * resetOnLeave the meeting is cleared when the user leaves the room.
 */
export function useRealtimeKitClient(clientParams) {
  const running = useRef(false);
  const [client, setClient] = useState();
  const resetOnLeave = clientParams?.resetOnLeave;
  const init = useCallback(async (options) => {
    if (running.current) return undefined;
    running.current = true;
    try {
      const meeting = await StageKit.init(options);
      setClient(meeting);
      return meeting;
    } finally {
      running.current = false;
    }
  }, []);
  useEffect(() => {
    if (!client || !resetOnLeave) return undefined;
    const onLeave = ({ state }) => {
      if (state !== "connected-meeting" && state !== "disconnected") setClient(undefined);
    };
    client.self.on("roomLeft", onLeave);
    return () => client.self.off("roomLeft", onLeave);
  }, [client, resetOnLeave]);
  return [client, init];
}

// RealtimeKit's comparison: re-render when the slice changed, shallowly for
// arrays and plain objects.
function same(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.is(a[k], b[k]));
}

/** selector(meeting), re-rendered when its value changes after any meeting event. */
export function useRealtimeKitSelector(selector) {
  const { meeting, updates } = useContext(RealtimeKitContext);
  const last = useRef({ has: false, value: undefined });
  const subscribe = useCallback(
    (onChange) => {
      if (!updates) return () => {};
      updates.addListener(onChange);
      return () => updates.removeListener(onChange);
    },
    [updates],
  );
  const snapshot = () => {
    const value = meeting ? selector(meeting) : undefined;
    if (last.current.has && same(last.current.value, value)) return last.current.value;
    last.current = { has: true, value };
    return value;
  };
  return useSyncExternalStore(subscribe, snapshot, snapshot);
}
