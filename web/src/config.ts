// The server writes its public settings into every page it serves, in a
// <meta name="onair-config"> tag (internal/webui): nothing is fetched from
// elsewhere, and a page served by another onair knows that server's region.
export interface Config {
  region: string;
  account: string;
  version: string;
  rtmpPort: number;
  rtmpsPort: number;
  // The HTTPS port the IVS Web Broadcast SDK's endpoint is on; 0: none.
  httpsPort: number;
}

export function config(): Config {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="onair-config"]');
  const fallback: Config = { region: "us-east-1", account: "", version: "dev", rtmpPort: 1935, rtmpsPort: 1936, httpsPort: 0 };
  if (!meta) return fallback;
  try {
    return { ...fallback, ...JSON.parse(meta.content) };
  } catch {
    return fallback;
  }
}

export function channelArn(cfg: Config, id: string): string {
  return `arn:aws:ivs:${cfg.region}:${cfg.account}:channel/${id}`;
}

export function channelId(arn: string): string {
  return arn.slice(arn.lastIndexOf("/") + 1);
}

export function playbackUrl(cfg: Config, id: string): string {
  return `${location.origin}/api/video/v1/${cfg.region}.${cfg.account}.channel.${id}.m3u8`;
}

// webBroadcastEndpoint is what a page built on IVS's Web Broadcast SDK
// takes as its ingest endpoint: onair's HTTPS listener on host (the SDK
// accepts only endpoints that start with "https" and posts {endpoint}/v1/offer).
export function webBroadcastEndpoint(cfg: Config, host: string): string {
  if (!cfg.httpsPort) return "";
  return cfg.httpsPort === 443 ? `https://${host}` : `https://${host}:${cfg.httpsPort}`;
}
