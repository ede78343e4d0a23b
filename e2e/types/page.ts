// RealtimeKit-style page code, written against @cloudflare/realtimekit 2.0.2's
// API: stage, self, participants, events, errors. types.test.mjs compiles it
// strictly against RealtimeKit's own types and, through a paths alias,
// against StageKit's.
import RealtimeKitClient, { ClientError } from "@cloudflare/realtimekit";
import type { RTKParticipant, RTKParticipants, RTKSelf, StageStatus } from "@cloudflare/realtimekit";

function show(text: string): void {
  document.body.append(text);
}

function attach(p: RTKParticipant): void {
  if (p.videoEnabled && p.videoTrack) {
    const video = document.createElement("video");
    video.srcObject = new MediaStream([p.videoTrack]);
    document.body.append(video);
  }
  p.on("videoUpdate", ({ videoEnabled, videoTrack }) => {
    show(`${p.name} video ${videoEnabled} ${videoTrack ? videoTrack.id : "-"}`);
  });
}

export async function run(authToken: string): Promise<RealtimeKitClient> {
  const meeting = await RealtimeKitClient.init({
    authToken,
    defaults: { audio: false, video: false },
    onError: (error: ClientError) => show(`error ${error.code}: ${error.message}`),
  });
  await meeting.join();

  // meeting.stage
  const stage = meeting.stage;
  const status: StageStatus = stage.status;
  show(`${status} as ${stage.peerId}`);
  stage
    .on("stageStatusUpdate", (s: StageStatus) => show(s))
    .on("stageRequestApproved", () => show("approved"))
    .on("stageRequestRejected", () => show("rejected"))
    .on("newStageRequest", ({ count }) => show(`${count} waiting`));
  stage.on("stageAccessRequestUpdate", (requests) => show(`${requests?.length ?? 0} requests`));
  const all = (event: string, ...args: unknown[]) => show(`${event} ${args.length}`);
  stage.on("*", all);
  stage.off("*", all);

  const self: RTKSelf = meeting.self;
  if (self.permissions.stageEnabled && self.permissions.acceptStageRequests) {
    const { stageRequests } = stage.getAccessRequests();
    const names: string[] = stageRequests.map((r) => r.displayName);
    show(names.join(", "));
    await stage.grantAccess(stageRequests.map((r) => r.userId));
    await stage.denyAccess([]);
    const kicked = await stage.kick(["someone"]);
    show(kicked.id);
  } else if (self.permissions.stageAccess === "CAN_REQUEST") {
    await stage.requestAccess();
    await stage.cancelRequestAccess();
  }
  if (stage.status === "ACCEPTED_TO_JOIN_STAGE") {
    await self.setupTracks({ audio: true, video: true });
    await stage.join();
    await stage.leave();
  }

  // meeting.self
  self.permissions.on("permissionsUpdate", () => show("permissions changed"));
  self.on("roomJoined", ({ reconnected }) => show(`joined ${reconnected}`));
  self.on("roomLeft", ({ state }) => show(`left: ${state}`));
  self.on("audioUpdate", ({ audioEnabled }) => show(`mic ${audioEnabled}`));
  await self.enableAudio();
  await self.disableAudio();
  await self.enableVideo();
  await self.disableVideo();
  const room: string = self.roomState;
  show(`${self.picture ?? "no picture"} ${self.id} ${self.peerId} ${self.userId} ${self.name} ${self.presetName} ${self.stageStatus} ${self.roomJoined} ${room} ${self.hidden}`);

  // meeting.participants
  const participants: RTKParticipants = meeting.participants;
  participants.joined
    .on("participantJoined", (p: RTKParticipant) => attach(p))
    .on("participantLeft", (p: RTKParticipant) => show(`${p.name} left`));
  participants.joined.on("stageStatusUpdate", (p: RTKParticipant) => show(`${p.name}: ${p.stageStatus}`));
  for (const [id, p] of participants.joined) show(`${id} ${p.userId} ${p.presetName ?? ""} ${p.picture ?? ""}`);
  participants.joined.forEach((p) => attach(p));
  const onStage: RTKParticipant[] = participants.joined.toArray().filter((p) => p.stageStatus === "ON_STAGE");
  const first = participants.joined.get(onStage[0]?.id ?? "");
  show(`${participants.joined.size} ${participants.joined.has("x")} ${first?.name} ${participants.count}`);
  show(`${participants.active.size} ${participants.waitlisted.size} ${participants.pinned.size}`);

  // meeting.meta
  if (meeting.meta.viewType === "WEBINAR") show(meeting.meta.meetingId);

  // errors
  try {
    await stage.join();
  } catch (e) {
    if (e instanceof ClientError) show(`${e.code} ${e.message}`);
  }
  await meeting.leave();
  return meeting;
}

// Comparisons RealtimeKit-typed code makes with values this SDK never has
// must still compile against StageKit's types.
export function comparisons(meeting: RealtimeKitClient): boolean {
  const p = meeting.self.permissions;
  return (
    meeting.meta.viewType === "LIVESTREAM" ||
    meeting.self.roomState === "waitlisted" ||
    meeting.self.waitlistStatus === "waiting" ||
    p.kickParticipant === true ||
    p.canProduceScreenshare === "ALLOWED" ||
    meeting.meta.socketState.reconnected
  );
}
