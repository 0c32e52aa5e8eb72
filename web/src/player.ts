import Hls from "hls.js";

export interface Player {
  hls: Hls | null;
  destroy: () => void;
}

// attach plays url in video: hls.js where Media Source Extensions exist
// (low-latency mode for LL-HLS), the browser's own HLS elsewhere (Safari on
// iOS). A stream that is not (yet) live is retried every 2 s.
export function attach(video: HTMLVideoElement, url: string, lowLatency: boolean, onState?: (s: string) => void): Player {
  video.muted = true; // autoplay policies allow muted playback only
  video.playsInline = true;
  if (!Hls.isSupported()) {
    video.src = url;
    video.play().catch(() => undefined);
    return { hls: null, destroy: () => { video.removeAttribute("src"); video.load(); } };
  }
  let hls: Hls | null = null;
  let retry = 0;
  let destroyed = false;
  const player: Player = { hls: null, destroy: () => {} };
  const start = () => {
    if (destroyed) return;
    hls = new Hls({ lowLatencyMode: lowLatency, liveSyncDurationCount: lowLatency ? 1 : 3 });
    player.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      onState?.("playing");
      video.play().catch(() => undefined);
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (!data.fatal) return;
      onState?.("waiting for the stream");
      hls?.destroy();
      hls = null;
      retry = window.setTimeout(start, 2000);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  };
  start();
  player.destroy = () => {
    destroyed = true;
    clearTimeout(retry);
    hls?.destroy();
    hls = null;
  };
  return player;
}

/** Seconds behind the live edge, or null when unknown. */
export function latency(video: HTMLVideoElement, p: Player): number | null {
  if (p.hls && p.hls.latency > 0) return p.hls.latency;
  const r = video.seekable;
  if (r.length > 0 && !video.paused) return Math.max(0, r.end(r.length - 1) - video.currentTime);
  return null;
}
