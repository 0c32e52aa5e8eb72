import "./style.css";

import { clear, h } from "./dom";
import { HTTPError, hangUp, negotiate, preferH264 } from "./whip";

// The broadcast page at /broadcast: go live from the browser over WHIP.
// No sign-in: the stream key is the credential, and it stays in this
// browser (localStorage) and in the Authorization header of one request.

interface Settings {
  type: "BASIC" | "STANDARD";
  endpoint: string;
  key: string;
}

// What each channel type takes (docs/limits): BASIC up to 480p at 1.5 Mbps,
// STANDARD 720p here (up to 8.5 Mbps on the channel; 3.5 leaves the CPU of
// a laptop to the encoder).
const presets = {
  BASIC: { width: 852, height: 480, fps: 30, maxBitrate: 1_500_000 },
  STANDARD: { width: 1280, height: 720, fps: 30, maxBitrate: 3_500_000 },
};

const storageKey = "onair.broadcast";

function loadSettings(): Settings {
  const fallback: Settings = { type: "STANDARD", endpoint: `${location.origin}/whip`, key: "" };
  try {
    return { ...fallback, ...JSON.parse(localStorage.getItem(storageKey) ?? "{}") };
  } catch {
    return fallback;
  }
}

const app = document.getElementById("app")!;
const settings = loadSettings();

const preview = h("video", { "data-testid": "preview", autoplay: true, muted: true, playsinline: true });
const camera = h("select", { id: "camera", "aria-label": "Camera" });
const mic = h("select", { id: "mic", "aria-label": "Microphone" });
const share = h("button", { type: "button", class: "small", "data-testid": "share" }, "Share screen");
const type = h("select", { id: "type" }, ...(["STANDARD", "BASIC"] as const).map((t) => h("option", { value: t, selected: settings.type === t }, t)));
const endpoint = h("input", { id: "endpoint", type: "url", value: settings.endpoint, required: true });
const key = h("input", { id: "key", type: "password", value: settings.key, autocomplete: "off", placeholder: "sk_…", required: true });
const showKey = h("button", { type: "button", class: "small", onclick: () => {
  key.type = key.type === "password" ? "text" : "password";
  showKey.textContent = key.type === "password" ? "Show" : "Hide";
} }, "Show");
const go = h("button", { type: "submit", "data-testid": "go" }, "Start streaming");
const state = h("span", { class: "badge off", "data-testid": "state" }, "OFFLINE");
const stats = h("span", { class: "muted", "data-testid": "stats" }, "");
const message = h("p", { class: "error", role: "alert", "data-testid": "message" });

app.append(h("main", {},
  h("div", { class: "titlebar" }, h("h1", {}, "Go live"), state, stats),
  message,
  h("div", { class: "columns" },
    h("section", { class: "card" }, preview,
      h("div", { class: "grid" },
        h("label", { for: "camera" }, "Camera"), camera,
        h("label", { for: "mic" }, "Microphone"), mic,
        h("span", {}, "Screen"), h("span", {}, share))),
    h("form", { class: "card", onsubmit: (e: Event) => { e.preventDefault(); toggle(); } },
      h("h2", {}, "Stream settings"),
      h("div", { class: "grid" },
        h("label", { for: "type" }, "Channel type"), type,
        h("label", { for: "endpoint" }, "Ingest endpoint"), endpoint,
        h("label", { for: "key" }, "Stream key"), h("span", { class: "copyable" }, key, showKey)),
      h("p", { class: "muted small" }, "The settings are remembered in this browser. The ingest endpoint is this server's /whip; the stream key is on the channel's page in the console."),
      go)),
));

let media: MediaStream | null = null; // camera + microphone
let screen: MediaStream | null = null;
let pc: RTCPeerConnection | null = null;
let videoSender: RTCRtpSender | null = null;
let audioSender: RTCRtpSender | null = null;
let resource: string | null = null;
let live = false; // the user wants to be live
let retry = 0;
let retryTimer = 0;
let lastBytes = 0;
let lastTime = 0;

function setState(text: string, kind: string): void {
  state.textContent = text;
  state.className = `badge ${kind}`;
}

function say(text: string): void {
  message.textContent = text;
}

function mediaError(err: unknown): string {
  const name = (err as { name?: string }).name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Camera and microphone access was denied. Allow it in the browser's site settings for this page, then reload.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") return "No camera or microphone was found.";
  if (name === "NotReadableError") return "The camera or microphone is in use by another program.";
  return `The camera could not start: ${(err as Error).message ?? err}`;
}

async function openDevices(): Promise<void> {
  const p = presets[type.value as Settings["type"]];
  const old = media;
  try {
    media = await navigator.mediaDevices.getUserMedia({
      video: { deviceId: camera.value ? { exact: camera.value } : undefined, width: { ideal: p.width }, height: { ideal: p.height }, frameRate: { ideal: p.fps } },
      audio: { deviceId: mic.value ? { exact: mic.value } : undefined, echoCancellation: true, noiseSuppression: true },
    });
  } catch (err) {
    say(mediaError(err));
    go.disabled = true;
    return;
  }
  old?.getTracks().forEach((t) => t.stop());
  go.disabled = false;
  if (!screen) preview.srcObject = media;
  await replaceTracks();
  await listDevices();
}

async function listDevices(): Promise<void> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (sel: HTMLSelectElement, kind: MediaDeviceKind, current?: string) => {
    clear(sel);
    for (const d of devices.filter((d) => d.kind === kind)) {
      sel.append(h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${kind} ${sel.length + 1}`));
    }
  };
  fill(camera, "videoinput", media?.getVideoTracks()[0]?.getSettings().deviceId);
  fill(mic, "audioinput", media?.getAudioTracks()[0]?.getSettings().deviceId);
}

function videoTrack(): MediaStreamTrack | undefined {
  return screen?.getVideoTracks()[0] ?? media?.getVideoTracks()[0];
}

// A device change or a screen share swaps the track being sent without a
// new connection.
async function replaceTracks(): Promise<void> {
  await videoSender?.replaceTrack(videoTrack() ?? null);
  await audioSender?.replaceTrack(media?.getAudioTracks()[0] ?? null);
}

share.addEventListener("click", async () => {
  if (screen) {
    screen.getTracks().forEach((t) => t.stop());
    screen = null;
    share.textContent = "Share screen";
    preview.srcObject = media;
    await replaceTracks();
    return;
  }
  try {
    screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 } });
  } catch {
    return; // the user cancelled the picker
  }
  screen.getVideoTracks()[0].addEventListener("ended", () => share.click());
  share.textContent = "Stop sharing";
  preview.srcObject = screen;
  await replaceTracks();
});
camera.addEventListener("change", openDevices);
mic.addEventListener("change", openDevices);
type.addEventListener("change", async () => {
  save();
  await openDevices();
  await setBitrate();
});

function save(): void {
  localStorage.setItem(storageKey, JSON.stringify({ type: type.value, endpoint: endpoint.value.trim(), key: key.value.trim() }));
}

async function setBitrate(): Promise<void> {
  const sender = videoSender;
  if (!sender) return;
  const params = sender.getParameters();
  params.encodings = params.encodings?.length ? params.encodings : [{}];
  params.encodings[0].maxBitrate = presets[type.value as Settings["type"]].maxBitrate;
  await sender.setParameters(params).catch(() => undefined);
}

async function connect(): Promise<void> {
  clearTimeout(retryTimer);
  const c = new RTCPeerConnection();
  pc = c;
  const v = c.addTransceiver(videoTrack() ?? "video", { direction: "sendonly", streams: media ? [media] : [] });
  const a = c.addTransceiver(media?.getAudioTracks()[0] ?? "audio", { direction: "sendonly", streams: media ? [media] : [] });
  videoSender = v.sender;
  audioSender = a.sender;
  preferH264(v);
  c.addEventListener("connectionstatechange", () => {
    if (c !== pc) return;
    switch (c.connectionState) {
      case "connected":
        retry = 0;
        setState("LIVE", "live");
        say("");
        break;
      case "failed":
      case "disconnected":
      case "closed":
        if (live) lost();
        break;
    }
  });
  setState("CONNECTING", "warn");
  try {
    resource = await negotiate(c, endpoint.value.trim(), key.value.trim());
    await setBitrate();
  } catch (err) {
    c.close();
    pc = null;
    if (err instanceof HTTPError && err.status >= 400 && err.status < 500) {
      // The server said no: retrying would get the same answer.
      live = false;
      go.textContent = "Start streaming";
      setState("OFFLINE", "off");
      say(err.status === 401 ? "The stream key was refused: copy it again from the channel's page in the console."
        : err.status === 409 ? "The channel is already live from another encoder."
        : err.message);
      return;
    }
    lost(err instanceof Error ? err.message : String(err));
  }
}

// lost schedules a reconnect with backoff (1, 2, 4 … 10 s).
function lost(why?: string): void {
  hangUp(resource);
  resource = null;
  pc?.close();
  pc = null;
  if (!live) return;
  const wait = Math.min(10, 2 ** retry++);
  setState("RECONNECTING", "warn");
  say(`Connection lost${why ? ` (${why})` : ""}: reconnecting in ${wait} s…`);
  retryTimer = window.setTimeout(connect, wait * 1000);
}

async function toggle(): Promise<void> {
  if (live) {
    live = false;
    clearTimeout(retryTimer);
    hangUp(resource);
    resource = null;
    pc?.close();
    pc = null;
    go.textContent = "Start streaming";
    setState("OFFLINE", "off");
    stats.textContent = "";
    return;
  }
  if (!key.value.trim()) {
    say("Enter the channel's stream key.");
    key.focus();
    return;
  }
  if (!media) {
    await openDevices();
    if (!media) return;
  }
  save();
  say("");
  live = true;
  retry = 0;
  go.textContent = "Stop streaming";
  await connect();
}

// Sent bit rate and resolution, from the video sender's statistics.
setInterval(async () => {
  if (!pc || pc.connectionState !== "connected") return;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type !== "outbound-rtp" || s.kind !== "video") return;
    const now = s.timestamp as number;
    const bytes = s.bytesSent as number;
    const kbps = lastTime ? ((bytes - lastBytes) * 8) / (now - lastTime) : 0;
    lastBytes = bytes;
    lastTime = now;
    stats.textContent = `${Math.round(kbps)} kbps · ${s.frameWidth ?? "?"}×${s.frameHeight ?? "?"}` +
      (s.framesPerSecond ? ` · ${Math.round(s.framesPerSecond)} fps` : "");
  });
}, 1000);

window.addEventListener("pagehide", () => hangUp(resource));
openDevices();
