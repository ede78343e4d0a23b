// Must NOT compile, against either type set: getAccessRequests is
// synchronous in RealtimeKit 2.0.2 (and in StageKit), so no .then.
import RealtimeKitClient from "@cloudflare/realtimekit";

export async function wrong(authToken: string): Promise<void> {
  const meeting = await RealtimeKitClient.init({ authToken });
  meeting.stage.getAccessRequests().then((r: unknown) => r);
}
