import { HTTPError, hangUp, negotiate } from "./whip";

export interface RealtimePlayer {
  destroy: () => void;
  /** Milliseconds behind the sender (jitter buffer + half the round trip), or null. */
  latency: () => Promise<number | null>;
  pc: () => RTCPeerConnection | null;
}

// watchRealtime plays a channel over WHEP (/whep/{channelId}) in video. A
// channel that is not live, or a lost connection, is retried every 2 s.
export function watchRealtime(video: HTMLVideoElement, url: string, onState: (s: string) => void): RealtimePlayer {
  let pc: RTCPeerConnection | null = null;
  let resource: string | null = null;
  let timer = 0;
  let destroyed = false;
  video.muted = true;
  video.playsInline = true;

  const retry = (why: string) => {
    hangUp(resource);
    resource = null;
    pc?.close();
    pc = null;
    if (destroyed) return;
    onState(why);
    timer = window.setTimeout(start, 2000);
  };

  const start = async () => {
    if (destroyed) return;
    const c = new RTCPeerConnection();
    pc = c;
    c.addTransceiver("video", { direction: "recvonly" });
    c.addTransceiver("audio", { direction: "recvonly" });
    c.addEventListener("track", (e) => {
      const stream = e.streams[0] ?? new MediaStream([e.track]);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(() => undefined);
    });
    let grace = 0;
    c.addEventListener("connectionstatechange", () => {
      if (c !== pc) return;
      clearTimeout(grace);
      switch (c.connectionState) {
        case "connected":
          onState("playing");
          break;
        case "disconnected":
          // The stream ended (the server closed its side) or the network
          // blinked: give it 2 s to come back, then start over.
          grace = window.setTimeout(() => { if (c === pc) retry("stream lost, reconnecting"); }, 2000);
          break;
        case "failed":
        case "closed":
          retry("stream lost, reconnecting");
      }
    });
    onState("connecting");
    try {
      resource = await negotiate(c, url);
    } catch (err) {
      retry(err instanceof HTTPError && err.status === 404 ? "waiting for the stream" : `error: ${(err as Error).message}`);
    }
  };
  start();

  // A stream that ended leaves the connection up until ICE consent runs out
  // (~10 s): when no frame arrived for 3 s, start over instead.
  let lastFrames = -1;
  let still = 0;
  const watchdog = window.setInterval(async () => {
    const c = pc;
    if (!c || c.connectionState !== "connected") {
      lastFrames = -1;
      still = 0;
      return;
    }
    let frames = 0;
    (await c.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesReceived ?? 0; });
    still = frames === lastFrames ? still + 1 : 0;
    lastFrames = frames;
    if (still >= 3 && c === pc) retry("waiting for the stream");
  }, 1000);

  return {
    pc: () => pc,
    destroy: () => {
      destroyed = true;
      clearTimeout(timer);
      clearInterval(watchdog);
      hangUp(resource);
      pc?.close();
      pc = null;
      video.srcObject = null;
    },
    latency: async () => {
      if (!pc) return null;
      let jitter: number | null = null;
      let rtt = 0;
      (await pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video" && s.jitterBufferEmittedCount > 0) {
          jitter = (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount;
        }
        if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
          rtt = 1000 * s.currentRoundTripTime;
        }
      });
      return jitter === null ? null : jitter + rtt / 2;
    },
  };
}
