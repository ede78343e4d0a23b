// RealtimeKit-typed page code as RealtimeKit's own types accept it (strict):
// tracks are MediaStreamTrack, not nullable; screen share, self.config, the
// devices, mediaPermissions, permissionsUpdate, setName, viewMode and the
// meeting's title. types.test.mjs compiles it against @cloudflare/realtimekit
// 2.0.2's declarations and, through the alias, against stagekit/realtimekit's.
import RealtimeKitClient from "@cloudflare/realtimekit";
import type { RTKParticipant, RTKSelf } from "@cloudflare/realtimekit";

function play(track: MediaStreamTrack): HTMLVideoElement {
  const video = document.createElement("video");
  video.srcObject = new MediaStream([track]);
  return video;
}

function tile(p: RTKParticipant): void {
  const camera: MediaStreamTrack = p.videoTrack;
  const mic: MediaStreamTrack = p.audioTrack;
  if (p.videoEnabled) document.body.append(play(camera));
  if (p.audioEnabled) new Audio().srcObject = new MediaStream([mic]);
  if (p.screenShareEnabled) document.body.append(play(p.screenShareTracks.video));
  const el = document.createElement("video");
  p.registerVideoElement(el);
  p.deregisterVideoElement(el);
  p.on("videoUpdate", ({ videoEnabled, videoTrack }) => {
    if (videoEnabled) document.body.append(play(videoTrack));
  });
  p.on("screenShareUpdate", ({ screenShareEnabled, screenShareTracks }) => {
    if (screenShareEnabled) document.body.append(play(screenShareTracks.video));
  });
}

export async function present(authToken: string): Promise<void> {
  const meeting = await RealtimeKitClient.init({ authToken, defaults: { audio: false, video: false } });
  const self: RTKSelf = meeting.self;
  self.setName("Ada");
  await meeting.join();
  document.title = `${meeting.meta.meetingTitle} since ${meeting.meta.meetingStartedTimestamp}`;

  // The UI config of the preset.
  const config = self.config;
  if (config.controlBar.elements?.screenshare && config.header.elements.title) document.body.append(config.viewType);
  const shares: number = config.maxScreenShareCount;

  // Stage-aware permissions.
  self.permissions.on("permissionsUpdate", () => document.body.append(self.permissions.canProduceVideo));
  if (self.permissions.canProduceScreenshare === "ALLOWED" && shares > 0) {
    await self.enableScreenShare();
    const screen: MediaStreamTrack = self.screenShareTracks.video;
    document.body.append(play(screen));
    await self.disableScreenShare();
  }
  self.on("screenShareUpdate", ({ screenShareEnabled }) => document.body.append(String(screenShareEnabled)));

  // Devices and what the browser allowed.
  const cams: MediaDeviceInfo[] = await self.getVideoDevices();
  const mics = await self.getAudioDevices();
  const speakers = await self.getSpeakerDevices();
  const current = self.getCurrentDevices();
  if (cams.length > 0) await self.setDevice(cams[0]);
  document.body.append(`${mics.length} ${speakers.length} ${current.video?.label}`);
  if (self.mediaPermissions.video === "DENIED") document.body.append("camera blocked");

  // Own tracks, as RealtimeKit types them.
  await self.enableVideo();
  const mine: MediaStreamTrack = self.videoTrack;
  new MediaStream([self.audioTrack, mine]);
  const preview = document.createElement("video");
  self.registerVideoElement(preview, true);

  // The grid.
  if (meeting.participants.viewMode === "ACTIVE_GRID") meeting.participants.active.toArray().forEach(tile);
  meeting.participants.joined.on("participantJoined", tile);
  meeting.participants.joined.on("screenShareUpdate", (p: RTKParticipant) => {
    if (p.screenShareEnabled) document.body.append(play(p.screenShareTracks.video));
  });
}
