// A RealtimeKit-style React page (written against @cloudflare/realtimekit-react 2.0.2).
import { useEffect } from "react";
import { RealtimeKitProvider, useRealtimeKitClient, useRealtimeKitMeeting, useRealtimeKitSelector } from "@cloudflare/realtimekit-react";
import type { StageStatus } from "@cloudflare/realtimekit";

function Stage() {
  const status: StageStatus = useRealtimeKitSelector((m) => m.stage.status);
  const onStage = useRealtimeKitSelector((m) => m.participants.joined.toArray().filter((p) => p.stageStatus === "ON_STAGE").length);
  const { meeting } = useRealtimeKitMeeting();
  return (
    <div>
      <p id="status">{status}</p>
      <p>{onStage} on stage</p>
      <button onClick={() => void meeting.stage.requestAccess()}>Join stage</button>
    </div>
  );
}

export function App({ authToken }: { authToken: string }) {
  const [meeting, initMeeting] = useRealtimeKitClient({ resetOnLeave: true });
  useEffect(() => {
    void initMeeting({ authToken, defaults: { audio: false, video: false } });
  }, [authToken]);
  return (
    <RealtimeKitProvider value={meeting} fallback={<p>Loading…</p>}>
      <Stage />
    </RealtimeKitProvider>
  );
}
