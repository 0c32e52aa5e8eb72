import "./style.css";

import { chatPanel } from "./chat";
import type { ChatToken } from "./chatclient";
import { config, playbackUrl } from "./config";
import { h } from "./dom";
import { attach, latency, type Player } from "./player";
import { watchRealtime, type RealtimePlayer } from "./realtime";

// The standalone player at /play/{channelId}: public, no sign-in, nothing
// but the channel's playback URL, or its WHEP endpoint in real-time mode
// (?mode=realtime). A private channel's playback token comes in ?token=
// and goes on both. Timed metadata (PutMetadata) shows below the video;
// the channel's chat room, if it has one, beside it.
const cfg = config();
const app = document.getElementById("app")!;
const id = location.pathname.match(/^\/play\/([A-Za-z0-9]+)\/?$/)?.[1];

if (!id) {
  app.append(h("p", {}, "No channel in this address: the player page is /play/{channelId}."));
} else {
  const video = h("video", { "data-testid": "player", controls: true, autoplay: true, muted: true, playsinline: true });
  const state = h("span", { "data-testid": "player-state" }, "Connecting…");
  const lat = h("span", { "data-testid": "latency" }, "");
  const quality = h("select", { "aria-label": "Quality", "data-testid": "quality" }, h("option", { value: "-1" }, "Auto"));
  const initial = new URLSearchParams(location.search).get("mode") === "realtime" ? "realtime" : "hls";
  const mode = h("select", { "aria-label": "Mode", "data-testid": "mode" },
    h("option", { value: "hls", selected: initial === "hls" }, "Low latency (HLS)"),
    h("option", { value: "realtime", selected: initial === "realtime" }, "Real time (WebRTC)"));
  const metadata = h("ol", { class: "metadata", "data-testid": "metadata", "aria-label": "Timed metadata", "aria-live": "polite" });
  const watch = h("div", { class: "watch" }, h("div", { class: "player" }, video,
    h("div", { class: "player-bar" }, state, lat, h("span", { class: "spacer" }), quality, mode), metadata));
  app.append(watch);
  const showMetadata = (text: string) => {
    metadata.prepend(h("li", { "data-testid": "metadata-item" }, h("time", {}, new Date().toLocaleTimeString()), " ", text));
    while (metadata.children.length > 5) metadata.lastElementChild?.remove();
  };
  const token = new URLSearchParams(location.search).get("token");
  const withToken = (u: string) => (token ? `${u}?token=${encodeURIComponent(token)}` : u);

  const showState = (s: string) => (state.textContent = s === "playing" ? "Live" : s);
  let hls: Player | null = null;
  let rt: RealtimePlayer | null = null;
  const play = (m: string) => {
    hls?.destroy();
    rt?.destroy();
    hls = rt = null;
    video.removeAttribute("src");
    quality.hidden = m === "realtime";
    if (m === "realtime") {
      rt = watchRealtime(video, withToken(`${location.origin}/whep/${id}`), showState);
      // For tests and the curious: the peer connection of real-time mode.
      (window as unknown as { onairRealtime: () => RTCPeerConnection | null }).onairRealtime = rt.pc;
    } else {
      // LL-HLS is used when the playlist offers it; hls.js needs to be told.
      hls = attach(video, withToken(playbackUrl(cfg, id)), true, showState, showMetadata);
    }
    const u = new URL(location.href);
    if (m === "realtime") u.searchParams.set("mode", "realtime");
    else u.searchParams.delete("mode");
    history.replaceState(null, "", u);
  };
  mode.addEventListener("change", () => play(mode.value));
  quality.addEventListener("change", () => { if (hls?.hls) hls.hls.currentLevel = Number(quality.value); });
  play(initial);
  startChat(id, token, watch);

  setInterval(async () => {
    if (rt) {
      const ms = await rt.latency();
      lat.textContent = ms === null ? "" : `${Math.round(ms)} ms behind live`;
      return;
    }
    if (!hls) return;
    const l = latency(video, hls);
    lat.textContent = l === null ? "" : `${l.toFixed(1)} s behind live`;
    const levels = hls.hls?.levels ?? [];
    if (levels.length + 1 !== quality.options.length) {
      // Highest first, as players show them; the value is hls.js's index.
      const order = levels.map((l, i) => ({ l, i })).sort((a, b) => (b.l.height || 0) - (a.l.height || 0));
      quality.replaceChildren(h("option", { value: "-1" }, "Auto"),
        ...order.map(({ l, i }) => h("option", { value: String(i) }, l.height ? `${l.height}p` : `level ${i + 1}`)));
    }
  }, 500);
}

/**
 * Chat tokens for this page come from onair itself (POST
 * /v1/channels/{id}/chat-token): a reader's until the viewer picks a name.
 * The page keeps a secret in localStorage so a viewer is the same user
 * from visit to visit.
 */
async function viewerToken(id: string, playToken: string | null, name: string): Promise<ChatToken> {
  let key = localStorage.getItem("onair.chat.key");
  if (!key) {
    key = Array.from(crypto.getRandomValues(new Uint8Array(18)), (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("onair.chat.key", key);
  }
  const q = playToken ? `?token=${encodeURIComponent(playToken)}` : "";
  const res = await fetch(`${location.origin}/v1/channels/${id}/chat-token${q}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ displayName: name, viewerKey: key }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(body.message ?? `HTTP ${res.status}`), { status: res.status });
  return body as ChatToken;
}

/**
 * Shows the channel's chat beside the player, if the channel has a room.
 * `data-chat` on the page says what came of it (none, shown, error), so
 * that a test can wait for the decision rather than for a while.
 */
async function startChat(id: string, playToken: string | null, watch: HTMLElement): Promise<void> {
  const saved = localStorage.getItem("onair.chat.name") ?? "";
  let first: ChatToken;
  try {
    first = await viewerToken(id, playToken, saved);
  } catch (err) {
    // 404: no room for this channel, so no chat. Anything else is shown.
    if ((err as { status?: number }).status !== 404) {
      watch.append(h("p", { class: "error", "data-testid": "chat-error" }, `Chat: ${(err as Error).message}`));
      watch.dataset.chat = "error";
    } else {
      watch.dataset.chat = "none";
    }
    return;
  }
  let prefetched: ChatToken | null = first;
  const panel = chatPanel({
    name: saved,
    onName: (n) => localStorage.setItem("onair.chat.name", n),
    token: async (name) => {
      if (prefetched && name === saved) {
        const t = prefetched;
        prefetched = null;
        return t;
      }
      return viewerToken(id, playToken, name);
    },
  });
  watch.append(panel.el);
  watch.dataset.chat = "shown";
}
