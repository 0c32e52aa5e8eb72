// The console is an IVS API client: everything it shows comes from the same
// signed API the AWS SDK and CLI use, with @aws-sdk/client-ivs in the browser.
// onair's own read endpoints (/v1/…, docs/api.md) are signed with the same
// SigV4 signer.
import { IvsClient, ListRecordingConfigurationsCommand } from "@aws-sdk/client-ivs";
import { Sha256 } from "@aws-crypto/sha256-js";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";

import type { Config } from "./config";

export interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
}

// The credentials live in sessionStorage: they last as long as the tab, and
// never go anywhere but into request signatures.
const storageKey = "onair.credentials";

export function loadCreds(): Creds | null {
  try {
    const c = JSON.parse(sessionStorage.getItem(storageKey) ?? "null");
    return c && c.accessKeyId && c.secretAccessKey ? c : null;
  } catch {
    return null;
  }
}

export function saveCreds(c: Creds | null): void {
  if (c) sessionStorage.setItem(storageKey, JSON.stringify(c));
  else sessionStorage.removeItem(storageKey);
}

export function ivsClient(cfg: Config, creds: Creds): IvsClient {
  return new IvsClient({
    region: cfg.region,
    endpoint: location.origin,
    credentials: creds,
    // A console shows the first answer; retries would only delay an error.
    maxAttempts: 1,
  });
}

export class ApiError extends Error {
  constructor(public name: string, message: string, public status: number) {
    super(message);
  }
}

/**
 * A SigV4-signed request to the server (service "ivs" or "ivschat"),
 * decoded as JSON; errors come back in AWS's shape and are thrown as
 * ApiError.
 */
async function signedFetch<T>(cfg: Config, creds: Creds, service: string, method: string, path: string,
  query: Record<string, string | string[]> = {}, body?: unknown): Promise<T> {
  const signer = new SignatureV4({ service, region: cfg.region, credentials: creds, sha256: Sha256 });
  const text = body === undefined ? undefined : JSON.stringify(body);
  const req = new HttpRequest({
    method,
    protocol: location.protocol,
    hostname: location.hostname,
    port: location.port ? Number(location.port) : undefined,
    path,
    query,
    headers: { host: location.host, ...(text === undefined ? {} : { "content-type": "application/json" }) },
    body: text,
  });
  const signed = await signer.sign(req);
  const headers = new Headers();
  for (const [k, v] of Object.entries(signed.headers)) {
    if (k.toLowerCase() !== "host") headers.set(k, v); // the browser sends Host itself
  }
  const qs = new URLSearchParams(Object.entries(query).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x]))).toString();
  const res = await fetch(location.origin + path + (qs ? "?" + qs : ""), { method, headers, body: text });
  const out = await res.text();
  if (!res.ok) {
    let msg = out;
    try {
      msg = JSON.parse(out).message ?? out;
    } catch {
      /* not JSON: the raw body is the message */
    }
    throw new ApiError(res.headers.get("x-amzn-ErrorType")?.split(":")[0] ?? `HTTP ${res.status}`, msg, res.status);
  }
  return (out ? JSON.parse(out) : {}) as T;
}

/** A SigV4-signed GET of one of onair's own endpoints, decoded as JSON. */
export function signedGet<T>(cfg: Config, creds: Creds, path: string, query: Record<string, string | string[]> = {}): Promise<T> {
  return signedFetch<T>(cfg, creds, "ivs", "GET", path, query);
}

/**
 * An IVS Chat operation (POST /{operation}, signed for "ivschat"), with
 * the wire shapes of docs/chat.md.
 */
export function chatApi<T>(cfg: Config, creds: Creds, operation: string, input: Record<string, unknown>): Promise<T> {
  return signedFetch<T>(cfg, creds, "ivschat", "POST", `/${operation}`, {}, input);
}

/**
 * An IVS Real-Time (Stages) operation: POST /{operation}, signed for "ivs"
 * (Stages share IVS's signing name; docs/stages.md), with the wire shapes
 * of stages.ts.
 */
export function realtimeApi<T>(cfg: Config, creds: Creds, operation: string, input: Record<string, unknown>): Promise<T> {
  return signedFetch<T>(cfg, creds, "ivs", "POST", `/${operation}`, {}, input);
}

/** What GET /v1/channels/{id}/sessions/{streamId}/metrics answers. */
export interface MetricPoint {
  time: string;
  span: number;
  videoBitrate: number;
  framerate: number;
  audioBitrate: number;
  keyframeInterval: number;
  viewers: number;
}

export interface Aggregate {
  min: number;
  avg: number;
  max: number;
  samples: number;
}

export interface SessionMetrics {
  streamId: string;
  live: boolean;
  stats: {
    points: number;
    videoBitrate: Aggregate;
    framerate: Aggregate;
    audioBitrate: Aggregate;
    keyframeInterval: Aggregate;
    viewers: Aggregate;
  };
  points: MetricPoint[];
}

/**
 * The creation times of channels (by ARN), from GET /v1/channels: the IVS
 * shapes have no field for them.
 */
export async function channelCreated(cfg: Config, creds: Creds, arns: string[]): Promise<Map<string, Date>> {
  const m = new Map<string, Date>();
  if (arns.length === 0) return m;
  const out = await signedGet<{ channels: Array<{ arn: string; createdAt: string }> }>(cfg, creds, "/v1/channels", { id: arns });
  for (const c of out.channels) m.set(c.arn, new Date(c.createdAt));
  return m;
}

/**
 * A playback session credential for a private channel, for the console's
 * own preview and thumbnails (GET /v1/channels/{id}/playback-token); kept
 * per channel until an hour before it expires.
 */
const previewTokens = new Map<string, { token: string; expires: number }>();
export async function previewToken(cfg: Config, creds: Creds, id: string): Promise<string> {
  const cached = previewTokens.get(id);
  if (cached && cached.expires - Date.now() > 3600_000) return cached.token;
  const out = await signedGet<{ token: string; expiresAt: string }>(cfg, creds, `/v1/channels/${id}/playback-token`);
  previewTokens.set(id, { token: out.token, expires: new Date(out.expiresAt).getTime() });
  return out.token;
}

/** What GET /v1/cluster answers. */
export interface ClusterInfo {
  nodeId: string;
  leaseTtlSeconds: number;
  nodes: Array<{
    nodeId: string;
    addr: string;
    version: string;
    state: string;
    startedAt: string;
    heartbeatAgeSeconds: number;
    publishers: number;
    viewers: number;
    channels: string[];
    webhooksConfig: string;
  }>;
}

/** What GET /v1/usage answers. */
export interface Usage {
  month: string;
  from: string;
  to: string;
  channels: Array<{ channelArn: string; inputHours: number; viewerHours: number }>;
  total: { inputHours: number; viewerHours: number };
  inputQuota?: { hours: number; remainingHours: number };
}

/**
 * Fills a select with the account's recording configurations ("None"
 * first), selecting current; every page of ListRecordingConfigurations.
 */
export async function fillRecordingSelect(ivs: IvsClient, sel: HTMLSelectElement, current = ""): Promise<void> {
  const opts: Array<[string, string]> = [["", "None"]];
  let next: string | undefined;
  do {
    const out = await ivs.send(new ListRecordingConfigurationsCommand({ nextToken: next, maxResults: 100 }));
    for (const r of out.recordingConfigurations ?? []) {
      const label = `${r.name || r.arn!.slice(r.arn!.lastIndexOf("/") + 1)} → ${r.destinationConfiguration?.s3?.bucketName ?? "?"}` +
        (r.state === "ACTIVE" ? "" : ` (${r.state})`);
      opts.push([r.arn!, label]);
    }
    next = out.nextToken;
  } while (next);
  sel.replaceChildren(...opts.map(([v, l]) => {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = l;
    o.selected = v === current;
    return o;
  }));
}
