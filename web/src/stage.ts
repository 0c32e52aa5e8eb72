import "./style.css";

import { clear, h } from "./dom";
import { HTTPError, hangUp, negotiate } from "./whip";

// The stage page at /stages/join: join an IVS Real-Time stage with a
// participant token, onair's own client of the protocol IVS's Web Broadcast
// SDK speaks (docs/stage-events.md, docs/stages.md): one events WebSocket
// for the roster, WHIP to publish the camera and microphone, one recvonly
// peer connection per other publisher. No sign-in: the token is the
// credential, and it names the endpoints.

interface Claims {
  jti: string;
  topic: string;
  events_url: string;
  whip_url: string;
  user_id?: string;
  exp?: number;
  capabilities?: { allow_publish?: boolean; allow_subscribe?: boolean };
}

interface Member {
  id: string;
  userId: string;
  isPublishing: boolean;
  audioMuted: boolean;
  videoStopped: boolean;
}

interface Subscription {
  pc: RTCPeerConnection;
  resource: string | null;
  tile: HTMLElement;
}

/** The token's claims (the signature is the server's to check). */
export function claimsOf(token: string): Claims {
  const part = token.trim().split(".")[1];
  if (!part) throw new Error("This is not a participant token: a token has three parts separated by dots.");
  let c: Claims;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    c = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
  } catch {
    throw new Error("This is not a participant token: its payload cannot be read.");
  }
  if (!c.jti || !c.events_url || !c.whip_url) throw new Error("This token names no stage endpoints: is it a stage participant token?");
  return c;
}

// What a refused join or a disconnect means, in words.
const reasons: Record<string, string> = {
  TOKEN_MISSING: "No token was sent.",
  TOKEN_INVALID: "The token was refused: it is not a valid participant token.",
  TOKEN_INVALID_SIGNATURE: "The token was refused: its signature does not match (forged, or its key was deleted).",
  TOKEN_EXPIRED: "The token has expired: ask the stage's owner for a new one.",
  STAGE_DELETED: "The stage was deleted: everyone left.",
  PARTICIPANT_DISCONNECTED: "You were removed from the stage by its owner.",
  TOKEN_REUSED: "This token joined again from another tab or device, so this page left.",
  BAD_REQUEST: "The server refused the request.",
  INTERNAL: "The server failed; try again.",
};

const app = document.getElementById("app")!;
// The token may come in the URL: #token= (the console's Join link: a
// fragment never reaches a server or its logs) or ?token=.
const params = new URLSearchParams(location.search);
const fragment = new URLSearchParams(location.hash.slice(1));
const given = fragment.get("token") ?? params.get("token");

const tokenInput = h("textarea", { id: "token", rows: 3, required: true, autocomplete: "off", spellcheck: "false", placeholder: "eyJhbGciOi…" });
tokenInput.value = given ?? "";
if (given) history.replaceState(null, "", location.pathname); // keep the token out of the history
const joinButton = h("button", { type: "submit", "data-testid": "join" }, "Join");
const leaveButton = h("button", { type: "button", "data-testid": "leave", disabled: true }, "Leave");
const muteButton = h("button", { type: "button", class: "small", "data-testid": "mute", disabled: true, "aria-pressed": "false" }, "Mute mic");
const videoButton = h("button", { type: "button", class: "small", "data-testid": "video", disabled: true, "aria-pressed": "false" }, "Stop video");
const state = h("span", { class: "badge off", "data-testid": "state" }, "NOT JOINED");
const who = h("span", { class: "muted", "data-testid": "me" });
const message = h("p", { class: "error", role: "alert", "data-testid": "message" });
const roster = h("ul", { class: "roster", "data-testid": "roster", "aria-live": "polite" });
const tiles = h("div", { class: "tiles", "data-testid": "tiles" });

app.append(h("main", {},
  h("div", { class: "titlebar" }, h("h1", {}, "Stage"), state, who),
  message,
  h("form", { class: "card", "aria-labelledby": "join-h", onsubmit: (e: Event) => { e.preventDefault(); join(); } },
    h("h2", { id: "join-h" }, "Join with a participant token"),
    h("div", { class: "grid" }, h("label", { for: "token" }, "Participant token"), tokenInput),
    h("p", { class: "muted small" }, "A stage's owner makes tokens in the console (Stages → a stage → Create participant token) or with CreateParticipantToken. A token that may publish sends your camera and microphone."),
    h("div", { class: "actions" }, joinButton, leaveButton, muteButton, videoButton)),
  h("div", { class: "columns" },
    h("section", { class: "card", "aria-labelledby": "tiles-h" }, h("h2", { id: "tiles-h" }, "Video"), tiles),
    h("section", { class: "card", "aria-labelledby": "roster-h" }, h("h2", { id: "roster-h" }, "Participants"), roster)),
));
leaveButton.addEventListener("click", () => leave("You left the stage."));
muteButton.addEventListener("click", () => {
  audioMuted = !audioMuted;
  media?.getAudioTracks().forEach((t) => (t.enabled = !audioMuted));
  muteButton.textContent = audioMuted ? "Unmute mic" : "Mute mic";
  muteButton.setAttribute("aria-pressed", String(audioMuted));
  sendState();
});
videoButton.addEventListener("click", () => {
  videoStopped = !videoStopped;
  media?.getVideoTracks().forEach((t) => (t.enabled = !videoStopped));
  videoButton.textContent = videoStopped ? "Start video" : "Stop video";
  videoButton.setAttribute("aria-pressed", String(videoStopped));
  sendState();
});

let token = "";
let claims: Claims | null = null;
let ws: WebSocket | null = null;
let pinger = 0;
let joined = false;
let members: Member[] = [];
let media: MediaStream | null = null;
let pub: RTCPeerConnection | null = null;
let pubResource: string | null = null;
let audioMuted = false;
let videoStopped = false;
const subs = new Map<string, Subscription>();

function setState(text: string, kind: string): void {
  state.textContent = text;
  state.className = `badge ${kind}`;
}

function say(text: string): void {
  message.textContent = text;
}

function send(msg: unknown): void {
  if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function sendState(): void {
  send({ type: "SET_STATE", version: "0", audioMuted, videoStopped });
}

function join(): void {
  if (joined) return;
  try {
    claims = claimsOf(tokenInput.value);
  } catch (err) {
    say((err as Error).message);
    tokenInput.focus();
    return;
  }
  if (claims.exp && claims.exp * 1000 < Date.now()) {
    say(reasons.TOKEN_EXPIRED);
    return;
  }
  token = tokenInput.value.trim();
  say("");
  joined = true;
  joinButton.disabled = true;
  tokenInput.disabled = true;
  leaveButton.disabled = false;
  who.textContent = `as ${claims.user_id || claims.jti}`;
  setState("CONNECTING", "warn");
  const url = new URL(claims.events_url);
  url.searchParams.set("error_over_ws", "1");
  const socket = new WebSocket(url, token);
  ws = socket;
  let ended = false; // a JOIN_ERROR or DISCONNECT said why the socket closes
  socket.addEventListener("message", (e) => {
    let m: { type: string; payload?: Record<string, unknown> };
    try {
      m = JSON.parse(e.data as string);
    } catch {
      return;
    }
    switch (m.type) {
      case "STAGE_STATE":
        onState((m.payload?.participants as Member[] | undefined) ?? []);
        break;
      case "aws:ivs:JOIN_ERROR":
      case "aws:ivs:DISCONNECT": {
        ended = true;
        const code = String(m.payload?.code ?? "");
        const why = m.payload?.reason ? ` (${String(m.payload.reason)})` : "";
        const text = (reasons[code] ?? `The stage ended the connection: ${code}.`) + why;
        leave(m.type === "aws:ivs:JOIN_ERROR" ? `Could not join: ${text}` : text, code);
        break;
      }
    }
  });
  socket.addEventListener("close", () => {
    if (socket === ws && !ended) leave("The connection to the stage was lost. Join again to rejoin.", "LOST");
  });
  pinger = window.setInterval(() => send({ type: "PING" }), 15_000);
}

let publishing = false;

function onState(list: Member[]): void {
  if (!claims) return;
  const first = !members.length;
  members = list;
  if (first) {
    setState("JOINED", "live");
    if (claims.capabilities?.allow_publish) publish();
  }
  showRoster();
  if (!claims.capabilities?.allow_subscribe) return;
  const live = new Set(list.filter((p) => p.id !== claims!.jti && p.isPublishing).map((p) => p.id));
  for (const [id, s] of subs) {
    if (!live.has(id)) unsubscribe(id, s, true);
  }
  for (const id of live) {
    if (!subs.has(id)) subscribe(id);
  }
}

function showRoster(): void {
  clear(roster);
  for (const p of members) {
    const me = p.id === claims?.jti;
    const flags = [p.isPublishing ? "publishing" : "not publishing", p.audioMuted && "mic muted", p.videoStopped && "video stopped"].filter(Boolean);
    roster.append(h("li", { "data-testid": `member-${p.userId || p.id}`, "data-participant": p.id },
      h("b", {}, p.userId || p.id), me ? " (you)" : "", " ",
      h("span", { class: "muted", "data-testid": "flags" }, flags.join(" · "))));
  }
  for (const [id, s] of subs) {
    const m = members.find((p) => p.id === id);
    s.tile.querySelector("figcaption")!.textContent = `${m?.userId || id}${m?.audioMuted ? " · mic muted" : ""}${m?.videoStopped ? " · video stopped" : ""}`;
  }
}

function tile(id: string, label: string, stream: MediaStream | null, local: boolean): HTMLElement {
  const video = h("video", { autoplay: true, playsinline: true, muted: local, "data-participant": id });
  video.srcObject = stream;
  return h("figure", { class: "tile", "data-testid": local ? "tile-me" : `tile-${label}` }, video, h("figcaption", {}, label));
}

async function publish(): Promise<void> {
  if (publishing) return;
  publishing = true;
  try {
    media = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } }, audio: { echoCancellation: true, noiseSuppression: true } });
  } catch (err) {
    const name = (err as { name?: string }).name;
    say(name === "NotAllowedError" ? "Camera and microphone access was denied: you are on the stage, watching only."
      : `The camera could not start (${(err as Error).message}): you are on the stage, watching only.`);
    return;
  }
  if (!joined) return stopMedia();
  const mine = tile(claims!.jti, `${claims!.user_id || "You"} (you)`, media, true);
  tiles.prepend(mine);
  const pc = new RTCPeerConnection();
  pub = pc;
  for (const t of media.getTracks()) pc.addTransceiver(t, { direction: "sendonly", streams: [media] });
  muteButton.disabled = false;
  videoButton.disabled = false;
  try {
    pubResource = await negotiate(pc, `${claims!.whip_url}/publish/${claims!.jti}`, token);
  } catch (err) {
    if (pub !== pc) return;
    // Refused (no place left, a capability taken away): watch only.
    say(`Publishing failed: ${whyRefused(err)}. You are on the stage, watching only.`);
    pc.close();
    pub = null;
    mine.remove();
    stopMedia();
    muteButton.disabled = videoButton.disabled = true;
    return;
  }
  if (!joined) hangUp(pubResource);
  // Tell the others the state we start in (the buttons may have moved).
  else if (audioMuted || videoStopped) sendState();
}

function whyRefused(err: unknown): string {
  if (err instanceof HTTPError) {
    try {
      return (JSON.parse(err.message) as { message?: string }).message ?? err.message;
    } catch {
      return err.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

async function subscribe(id: string): Promise<void> {
  const m = members.find((p) => p.id === id);
  const pc = new RTCPeerConnection();
  const stream = new MediaStream();
  const t = tile(id, m?.userId || id, stream, false);
  const s: Subscription = { pc, resource: null, tile: t };
  subs.set(id, s);
  pc.addTransceiver("audio", { direction: "recvonly" });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addEventListener("track", (e) => stream.addTrack(e.track));
  pc.addEventListener("connectionstatechange", () => {
    // A failed subscription is dropped; the next roster retries it.
    if (pc.connectionState === "failed" && subs.get(id) === s) unsubscribe(id, s);
  });
  tiles.append(t);
  showRoster();
  try {
    s.resource = await negotiate(pc, `${claims!.whip_url}/subscribe/${id}`, token);
  } catch (err) {
    if (subs.get(id) === s) {
      unsubscribe(id, s);
      // The publisher stopping between its roster and our request is normal.
      if (!(err instanceof HTTPError && err.status === 404)) say(`Could not receive ${m?.userId || id}: ${whyRefused(err)}`);
    }
    return;
  }
  if (subs.get(id) !== s) hangUp(s.resource);
}

// unsubscribe ends a subscription; ended says the server already did (the
// publisher stopped or left, or we were removed), so no DELETE is due.
function unsubscribe(id: string, s: Subscription, ended = false): void {
  if (subs.get(id) === s) subs.delete(id);
  if (!ended) hangUp(s.resource);
  s.pc.close();
  s.tile.remove();
}

function stopMedia(): void {
  media?.getTracks().forEach((t) => t.stop());
  media = null;
}

/** Leaves the stage: ends every publish and subscription, closes the socket. */
function leave(why: string, code = ""): void {
  if (!joined) return;
  joined = false;
  publishing = false;
  clearInterval(pinger);
  // A JOIN_ERROR or DISCONNECT: the server has ended our sessions itself.
  const ended = code !== "" && code !== "LOST";
  for (const [id, s] of subs) unsubscribe(id, s, ended);
  if (!ended) hangUp(pubResource);
  pubResource = null;
  pub?.close();
  pub = null;
  stopMedia();
  const socket = ws;
  ws = null;
  socket?.close(1000);
  members = [];
  clear(roster);
  clear(tiles);
  audioMuted = videoStopped = false;
  muteButton.textContent = "Mute mic";
  videoButton.textContent = "Stop video";
  for (const b of [muteButton, videoButton]) b.setAttribute("aria-pressed", "false");
  muteButton.disabled = videoButton.disabled = leaveButton.disabled = true;
  joinButton.disabled = tokenInput.disabled = false;
  setState(code ? "LEFT" : "NOT JOINED", code ? "warn" : "off");
  message.dataset.code = code;
  say(why);
}

window.addEventListener("pagehide", () => leave(""));
if (tokenInput.value) join();
