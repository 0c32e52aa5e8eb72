// WHIP and WHEP (RFC 9725 and its playback twin) from the browser: one
// offer with every candidate gathered, one answer, DELETE to end.

export class HTTPError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

/** Waits until pc has gathered its candidates (or 2 s: send what there is). */
export function gathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const timer = setTimeout(done, 2000);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/**
 * Offers pc's media to url and applies the answer. Returns the session's
 * URL (for DELETE). A refusal throws HTTPError with the server's reason.
 */
export async function negotiate(pc: RTCPeerConnection, url: string, bearer?: string): Promise<string> {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const headers: Record<string, string> = { "Content-Type": "application/sdp" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const res = await fetch(url, { method: "POST", headers, body: pc.localDescription!.sdp });
  const body = await res.text();
  if (res.status !== 201) throw new HTTPError(res.status, body.trim() || res.statusText);
  await pc.setRemoteDescription({ type: "answer", sdp: body });
  return new URL(res.headers.get("Location") ?? url, url).toString();
}

/** Ends a WHIP or WHEP session; errors are ignored (the server times it out). */
export function hangUp(resource: string | null): void {
  if (resource) fetch(resource, { method: "DELETE", keepalive: true }).catch(() => undefined);
}

/** Moves H.264 to the front of a transceiver's codecs: what onair ingests. */
export function preferH264(t: RTCRtpTransceiver): void {
  const caps = RTCRtpSender.getCapabilities?.("video");
  if (!caps || !t.setCodecPreferences) return;
  const h264 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/h264");
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== "video/h264");
  if (h264.length) t.setCodecPreferences([...h264, ...rest]);
}
