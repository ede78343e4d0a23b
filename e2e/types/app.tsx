// A RealtimeKit-style React page (written against @cloudflare/realtimekit-react 2.0.2).
import { useEffect, useRef } from "react";
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

// A participant's video as RealtimeKit's types give it: a MediaStreamTrack.
function Video({ peerId }: { peerId: string }) {
  const track: MediaStreamTrack | undefined = useRealtimeKitSelector((m) => m.participants.joined.get(peerId)?.videoTrack);
  const screen: MediaStreamTrack = useRealtimeKitSelector((m) => m.self.screenShareTracks.video);
  const sharing = useRealtimeKitSelector((m) => m.self.screenShareEnabled);
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    if (ref.current && track) ref.current.srcObject = new MediaStream([track]);
    if (ref.current && sharing) ref.current.srcObject = new MediaStream([screen]);
  }, [track, screen, sharing]);
  return <video ref={ref} autoPlay playsInline />;
}

export function App({ authToken }: { authToken: string }) {
  const [meeting, initMeeting] = useRealtimeKitClient({ resetOnLeave: true });
  useEffect(() => {
    void initMeeting({ authToken, defaults: { audio: false, video: false } });
  }, [authToken]);
  return (
    <RealtimeKitProvider value={meeting} fallback={<p>Loading…</p>}>
      <Stage />
      <Video peerId="p" />
    </RealtimeKitProvider>
  );
}
