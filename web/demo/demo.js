// The StageKit demo page: without a token it creates a meeting and shows the
// participants' links; with one it joins and shows the stage.
import StageKit from "/sdk/stagekit.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token");

function show(section) {
  for (const id of ["landing", "loading", "room"]) $(id).hidden = id !== section;
}

let toastTimer;
function toast(message) {
  $("toast").textContent = message;
  $("toast").hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => ($("toast").hidden = true), 5000);
}

function log(text, error = false) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  if (error) li.className = "error";
  $("log").prepend(li);
}

// Runs an SDK call, showing any failure instead of breaking the page.
async function attempt(label, fn) {
  try {
    await fn();
  } catch (err) {
    const message = err?.message ?? String(err);
    log(`${label} failed: ${message}`, true);
    toast(`${label}: ${message}`);
  }
}

const el = (tag, { dataset, ...props } = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
};

// --- landing: create a meeting ------------------------------------------

// Calls the demo API; a refusal throws with the server's coded message.
async function demoAPI(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error ? `[${data.error.code}] ${data.error.message}` : `HTTP ${res.status}`);
  return data;
}

async function landing() {
  show("landing");
  $("create").onclick = () =>
    attempt("Create meeting", async () => renderLinks(await demoAPI("/demo/api/meetings", {})));
}

function linkItem(link) {
  const open = el("a", { href: link.url, target: "_blank", rel: "noopener" }, el("button", { className: "small" }, "Open"));
  return el("li", {}, el("span", { className: "grow" },
    el("div", { className: "title" }, link.name), el("div", { className: "meta" }, link.preset)), open);
}

// The creator secret stays in this page's memory only: it is what lets this
// page, and no one who merely knows the meeting id, add participants.
function renderLinks(data) {
  const { meetingId, creatorSecret } = data;
  const list = el("ul", { className: "list links", id: "link-list" }, ...data.links.map(linkItem));
  const name = el("input", { id: "add-name", placeholder: "Name", maxLength: 256 });
  const preset = el("select", { id: "add-preset" },
    ...["webinar_viewer", "webinar_host", "livestream_viewer"].map((p) => el("option", { value: p }, p)));
  const add = el("button", { id: "add", className: "small" }, "Add a participant");
  add.onclick = () =>
    attempt("Add participant", async () => {
      const link = await demoAPI(`/demo/api/meetings/${encodeURIComponent(meetingId)}/participants`,
        { name: name.value, preset: preset.value, creatorSecret });
      list.append(linkItem(link));
      name.value = "";
    });
  $("links").replaceChildren(el("h2", {}, `Meeting “${data.title}”`), list,
    el("div", { className: "row add" }, name, preset, add));
}

// --- the room -------------------------------------------------------------

let meeting;

async function room() {
  show("loading");
  meeting = await StageKit.init({
    authToken: token,
    baseURI: location.origin,
    onProgress: (p) => {
      if (p.phase === "download" && p.total) {
        $("progress").value = p.loaded / p.total;
        $("progress-text").textContent = `${(p.loaded / 1e6).toFixed(1)} of ${(p.total / 1e6).toFixed(1)} MB`;
      } else if (p.phase === "start") {
        $("progress").value = 1;
        $("progress-text").textContent = "Starting…";
      }
    },
  });
  await meeting.join();
  show("room");
  const self = meeting.self;
  $("who").textContent = `${self.name} · ${self.presetName}`;
  $("host-panel").hidden = !self.permissions.acceptStageRequests;
  log(`joined as ${self.name} (${self.presetName})`);

  const stage = meeting.stage;
  stage.on("*", (name, ...args) => {
    const detail = name === "stageAccessRequestUpdate" ? `${args[0].length} pending` : args.map((a) => JSON.stringify(a)).join(" ");
    log(`stage: ${name} ${detail}`);
    render();
  });
  const joined = meeting.participants.joined;
  joined.on("participantJoined", (p) => { log(`${p.name} joined the meeting`); render(); });
  joined.on("participantLeft", (p) => { log(`${p.name} left the meeting`); render(); });
  joined.on("stageStatusUpdate", (p) => { log(`${p.name} is now ${p.stageStatus}`); render(); });
  for (const ev of ["videoUpdate", "audioUpdate"]) joined.on(ev, () => render());
  for (const ev of ["videoUpdate", "audioUpdate"]) self.on?.(ev, () => render());
  meeting.on("reconnecting", () => log("connection lost; reconnecting…", true));
  meeting.on("reconnected", () => { log("reconnected"); render(); });
  meeting.on("disconnected", (err) => { log(`disconnected: ${err.message}`, true); toast(err.message); });

  $("request").onclick = () => attempt("Request", () => stage.requestAccess());
  $("cancel").onclick = () => attempt("Cancel", () => stage.cancelRequestAccess());
  $("join").onclick = () => attempt("Join stage", () => stage.join());
  $("leave").onclick = () => attempt("Leave stage", () => stage.leave());
  $("grant-all").onclick = () => attempt("Grant all", () => stage.grantAccess(requests.map((r) => r.userId)));
  $("camera").onclick = () => attempt("Camera", () => (self.videoEnabled ? self.disableVideo() : self.enableVideo()).then(render));
  $("mic").onclick = () => attempt("Microphone", () => (self.audioEnabled ? self.disableAudio() : self.enableAudio()).then(render));

  if (self.permissions.acceptStageRequests) {
    requests = stage.getAccessRequests().stageRequests; // synchronous, as in RealtimeKit
    stage.on("stageAccessRequestUpdate", (list) => { requests = list; render(); });
  }
  setInterval(renderWaits, 1000);
  render();
}

let requests = [];

function waited(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
}

function renderWaits() {
  for (const node of document.querySelectorAll("[data-since]")) node.textContent = `waiting ${waited(Number(node.dataset.since))}`;
}

function render() {
  const stage = meeting.stage;
  const self = meeting.self;
  const status = stage.status;
  $("status").textContent = status;
  $("status").className = `badge ${status}`;
  const canRequest = self.permissions.stageEnabled && self.permissions.stageAccess === "CAN_REQUEST";
  $("request").hidden = !canRequest;
  $("request").disabled = status !== "OFF_STAGE";
  $("cancel").hidden = status !== "REQUESTED_TO_JOIN_STAGE";
  $("join").disabled = status !== "ACCEPTED_TO_JOIN_STAGE";
  $("leave").hidden = !(status === "ON_STAGE" || (status === "ACCEPTED_TO_JOIN_STAGE" && self.permissions.stageAccess !== "ALLOWED"));
  $("leave").textContent = status === "ACCEPTED_TO_JOIN_STAGE" ? "Decline invitation" : "Leave the stage";
  const media = typeof self.enableVideo === "function";
  $("camera").hidden = $("mic").hidden = !media;
  if (media) {
    $("camera").textContent = self.videoEnabled ? "Camera on" : "Camera off";
    $("camera").classList.toggle("on", !!self.videoEnabled);
    $("mic").textContent = self.audioEnabled ? "Microphone on" : "Microphone off";
    $("mic").classList.toggle("on", !!self.audioEnabled);
  }
  renderTiles();
  renderParticipants();
  renderRequests();
}

const videoOf = new WeakMap();

// Remote participants' microphones play through hidden <audio> elements.
const audioOf = new WeakMap();

function tile(person, track, audio) {
  const node = el("div", { className: "tile" }, person.name.slice(0, 1).toUpperCase());
  if (audio) {
    let player = audioOf.get(audio);
    if (!player) {
      player = el("audio", { autoplay: true, hidden: true });
      player.srcObject = new MediaStream([audio]);
      audioOf.set(audio, player);
    }
    node.append(player);
  }
  if (track) {
    let video = videoOf.get(track);
    if (!video) {
      video = el("video", { autoplay: true, muted: true, playsInline: true });
      video.srcObject = new MediaStream([track]);
      videoOf.set(track, video);
    }
    node.append(video);
  }
  node.append(el("span", { className: "name" }, person.name));
  node.dataset.user = person.userId;
  return node;
}

function renderTiles() {
  const onStage = [];
  if (meeting.stage.status === "ON_STAGE") onStage.push(tile(meeting.self, meeting.self.videoTrack));
  for (const p of meeting.participants.joined.toArray()) {
    if (p.stageStatus === "ON_STAGE") onStage.push(tile(p, p.videoTrack, p.audioTrack));
  }
  $("tiles").replaceChildren(...onStage);
  $("tiles-empty").hidden = onStage.length > 0;
}

function renderParticipants() {
  const host = meeting.self.permissions.acceptStageRequests;
  const people = meeting.participants.joined.toArray();
  $("part-count").textContent = people.length;
  $("participants").replaceChildren(...people.map((p) => {
    const actions = [];
    if (host && p.stageStatus === "OFF_STAGE" && p.presetName !== "livestream_viewer") {
      actions.push(el("button", { className: "small", onclick: () => attempt(`Invite ${p.name}`, () => meeting.stage.grantAccess([p.userId])) }, "Invite"));
    }
    if (host && (p.stageStatus === "ON_STAGE" || p.stageStatus === "ACCEPTED_TO_JOIN_STAGE")) {
      actions.push(el("button", { className: "small danger", onclick: () => attempt(`Remove ${p.name}`, () => meeting.stage.kick([p.userId])) }, "Remove from stage"));
    }
    return el("li", { dataset: { user: p.userId } },
      el("span", { className: "grow" }, el("div", { className: "title" }, p.name), el("div", { className: "meta" }, `${p.presetName} · ${p.stageStatus}`)),
      ...actions);
  }));
}

function renderRequests() {
  if ($("host-panel").hidden) return;
  $("req-count").textContent = requests.length;
  $("grant-all").disabled = requests.length === 0;
  $("requests-empty").hidden = requests.length > 0;
  $("requests").replaceChildren(...requests.map((r) =>
    el("li", { dataset: { user: r.userId } },
      el("span", { className: "grow" }, el("div", { className: "title" }, r.displayName),
        el("div", { className: "meta", dataset: { since: r.requestedAt } }, `waiting ${waited(r.requestedAt)}`)),
      el("button", { className: "small primary", onclick: () => attempt(`Grant ${r.displayName}`, () => meeting.stage.grantAccess([r.userId])) }, "Grant"),
      el("button", { className: "small danger", onclick: () => attempt(`Deny ${r.displayName}`, () => meeting.stage.denyAccess([r.userId])) }, "Deny"))));
}

if (token) {
  room().catch((err) => {
    show("landing");
    $("create").hidden = true;
    $("links").replaceChildren(el("p", { className: "muted" }, `Could not join: ${err.message}`));
    toast(err.message);
  });
} else {
  landing();
}
