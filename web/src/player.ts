import Hls from "hls.js";

export interface Player {
  hls: Hls | null;
  destroy: () => void;
}

// attach plays url in video: hls.js where Media Source Extensions exist
// (low-latency mode for LL-HLS), the browser's own HLS elsewhere (Safari on
// iOS). A stream that is not (yet) live is retried every 2 s.
//
// onMetadata gets the text of each timed metadata item (PutMetadata: an ID3
// TXXX frame) when playback reaches it. It reads hls.js's parsed samples
// rather than its metadata text track: Chromium drops the first cue hls.js
// adds, when the track's own (empty) source loads after it.
export function attach(video: HTMLVideoElement, url: string, lowLatency: boolean, onState?: (s: string) => void,
  onMetadata?: (text: string) => void): Player {
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
    if (onMetadata) {
      hls.on(Hls.Events.FRAG_PARSING_METADATA, (_e, data) => {
        for (const s of data.samples) {
          for (const text of id3Texts(s.data)) whenPlayed(video, s.pts, () => onMetadata(text));
        }
      });
    }
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

/** Runs fn once video's playback reaches media time t (seconds). */
function whenPlayed(video: HTMLVideoElement, t: number, fn: () => void): void {
  if (!(video.currentTime < t)) {
    fn();
    return;
  }
  const check = () => {
    if (video.currentTime >= t) {
      video.removeEventListener("timeupdate", check);
      fn();
    }
  };
  video.addEventListener("timeupdate", check);
}

// segmentMetadata is the description of the TXXX frame that starts every
// MPEG-TS segment's ID3 stream (onair's, as IVS's: when the segment's first
// frame was received, for IVS's player's latency figure). It is no
// PutMetadata.
const segmentMetadata = "segmentmetadata";

/**
 * The text of the TXXX frames of an ID3v2.3/2.4 tag (UTF-8 or Latin-1),
 * but for segment metadata.
 */
export function id3Texts(tag: Uint8Array): string[] {
  const out: string[] = [];
  if (tag.length < 10 || tag[0] !== 0x49 || tag[1] !== 0x44 || tag[2] !== 0x33) return out;
  const version = tag[3];
  const syncsafe = (i: number) => ((tag[i] & 0x7f) << 21) | ((tag[i + 1] & 0x7f) << 14) | ((tag[i + 2] & 0x7f) << 7) | (tag[i + 3] & 0x7f);
  const end = Math.min(tag.length, 10 + syncsafe(6));
  let i = 10;
  while (i + 10 <= end) {
    const id = String.fromCharCode(tag[i], tag[i + 1], tag[i + 2], tag[i + 3]);
    const size = version >= 4 ? syncsafe(i + 4) : (tag[i + 4] << 24) | (tag[i + 5] << 16) | (tag[i + 6] << 8) | tag[i + 7];
    const body = tag.subarray(i + 10, i + 10 + size);
    i += 10 + size;
    if (size <= 0 || id === "\0\0\0\0") break;
    if (id !== "TXXX" || body.length < 2) continue;
    const utf8 = body[0] === 3;
    const dec = new TextDecoder(utf8 ? "utf-8" : "latin1");
    const rest = body.subarray(1);
    const nul = rest.indexOf(0); // end of the description
    if (nul < 0 || dec.decode(rest.subarray(0, nul)) === segmentMetadata) continue;
    out.push(dec.decode(rest.subarray(nul + 1)).replace(/\0+$/, ""));
  }
  return out;
}
