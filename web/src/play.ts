import "./style.css";

import { config, playbackUrl } from "./config";
import { h } from "./dom";
import { attach, latency } from "./player";

// The standalone player at /play/{channelId}: public, no sign-in, nothing
// but the channel's playback URL.
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
  app.append(h("div", { class: "player" }, video,
    h("div", { class: "player-bar" }, state, lat, h("span", { class: "spacer" }), quality)));
  // LL-HLS is used when the playlist offers it; hls.js needs to be told.
  const p = attach(video, playbackUrl(cfg, id), true, (s) => (state.textContent = s === "playing" ? "Live" : s));
  quality.addEventListener("change", () => { if (p.hls) p.hls.currentLevel = Number(quality.value); });
  setInterval(() => {
    const l = latency(video, p);
    lat.textContent = l === null ? "" : `${l.toFixed(1)} s behind live`;
    const levels = p.hls?.levels ?? [];
    if (levels.length + 1 !== quality.options.length) {
      quality.replaceChildren(h("option", { value: "-1" }, "Auto"),
        ...levels.map((l, i) => h("option", { value: String(i) }, l.height ? `${l.height}p` : `level ${i + 1}`)));
    }
  }, 500);
}
