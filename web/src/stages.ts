// IVS Real-Time stages as the console sees them: the ivsrealtime control
// plane's wire shapes (docs/stages.md), called through realtimeApi.
import { realtimeApi, type Creds } from "./api";
import type { Config } from "./config";

export interface StageEndpoints {
  events?: string;
  whip?: string;
}

export interface Stage {
  arn: string;
  name: string;
  activeSessionId?: string;
  tags?: Record<string, string>;
  endpoints?: StageEndpoints;
}

export type StageSummary = Pick<Stage, "arn" | "name" | "activeSessionId" | "tags">;

export interface ParticipantToken {
  participantId: string;
  token: string;
  userId?: string;
  attributes?: Record<string, string>;
  duration: number;
  capabilities: string[];
  expirationTime: string;
}

export interface Participant {
  participantId: string;
  userId?: string;
  state: string;
  firstJoinTime: string;
  published: boolean;
}

export interface StageSession {
  sessionId: string;
  startTime: string;
  endTime?: string;
}

export interface ParticipantEvent {
  name: string;
  participantId: string;
  eventTime: string;
  remoteParticipantId?: string;
  errorCode?: string;
}

export interface PublicKey {
  arn: string;
  name: string;
  fingerprint?: string;
  publicKeyMaterial?: string;
}

export const stageArn = (cfg: Config, id: string) => `arn:aws:ivs:${cfg.region}:${cfg.account}:stage/${id}`;
export const resourceId = (arn: string) => arn.slice(arn.lastIndexOf("/") + 1);

/** Every page of a List operation: key names the list in the answer. */
async function all<T>(cfg: Config, creds: Creds, operation: string, key: string, input: Record<string, unknown> = {}): Promise<T[]> {
  const out: T[] = [];
  let nextToken: string | undefined;
  do {
    const page = await realtimeApi<Record<string, unknown> & { nextToken?: string }>(cfg, creds, operation, { ...input, maxResults: 100, nextToken });
    out.push(...((page[key] as T[] | undefined) ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export const listStages = (cfg: Config, creds: Creds) => all<StageSummary>(cfg, creds, "ListStages", "stages");
export const getStage = async (cfg: Config, creds: Creds, arn: string) =>
  (await realtimeApi<{ stage: Stage }>(cfg, creds, "GetStage", { arn })).stage;
export const createStage = async (cfg: Config, creds: Creds, name: string, tags: Record<string, string>) =>
  (await realtimeApi<{ stage: Stage }>(cfg, creds, "CreateStage", { name: name || undefined, tags: Object.keys(tags).length ? tags : undefined })).stage;
export const updateStage = async (cfg: Config, creds: Creds, arn: string, name: string) =>
  (await realtimeApi<{ stage: Stage }>(cfg, creds, "UpdateStage", { arn, name })).stage;
export const deleteStage = (cfg: Config, creds: Creds, arn: string) => realtimeApi<unknown>(cfg, creds, "DeleteStage", { arn });

export interface TokenRequest {
  userId?: string;
  attributes?: Record<string, string>;
  capabilities: string[];
  duration?: number;
}

export const createParticipantToken = async (cfg: Config, creds: Creds, stageArn: string, r: TokenRequest) =>
  (await realtimeApi<{ participantToken: ParticipantToken }>(cfg, creds, "CreateParticipantToken", { stageArn, ...r })).participantToken;

export const listParticipants = (cfg: Config, creds: Creds, stageArn: string, sessionId: string) =>
  all<Participant>(cfg, creds, "ListParticipants", "participants", { stageArn, sessionId });
export const disconnectParticipant = (cfg: Config, creds: Creds, stageArn: string, participantId: string, reason: string) =>
  realtimeApi<unknown>(cfg, creds, "DisconnectParticipant", { stageArn, participantId, reason: reason || undefined });

/** The stage's sessions, newest first (one page of up to 100). */
export async function listStageSessions(cfg: Config, creds: Creds, stageArn: string, nextToken?: string): Promise<{ sessions: StageSession[]; nextToken?: string }> {
  const out = await realtimeApi<{ stageSessions: StageSession[]; nextToken?: string }>(cfg, creds, "ListStageSessions", { stageArn, maxResults: 20, nextToken });
  return { sessions: out.stageSessions ?? [], nextToken: out.nextToken };
}
export const getStageSession = async (cfg: Config, creds: Creds, stageArn: string, sessionId: string) =>
  (await realtimeApi<{ stageSession: StageSession }>(cfg, creds, "GetStageSession", { stageArn, sessionId })).stageSession;
export const listParticipantEvents = (cfg: Config, creds: Creds, stageArn: string, sessionId: string, participantId: string) =>
  all<ParticipantEvent>(cfg, creds, "ListParticipantEvents", "events", { stageArn, sessionId, participantId });

export const listPublicKeys = (cfg: Config, creds: Creds) => all<PublicKey>(cfg, creds, "ListPublicKeys", "publicKeys");
export const importPublicKey = async (cfg: Config, creds: Creds, name: string, publicKeyMaterial: string) =>
  (await realtimeApi<{ publicKey: PublicKey }>(cfg, creds, "ImportPublicKey", { name: name || undefined, publicKeyMaterial })).publicKey;
export const deletePublicKey = (cfg: Config, creds: Creds, arn: string) => realtimeApi<unknown>(cfg, creds, "DeletePublicKey", { arn });

/**
 * key=value lines (tags, token attributes) as a map; what names the field
 * in the error a malformed line gets.
 */
export function keyValues(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf("=");
    if (i <= 0) throw new Error(`${what} are key=value, one per line: "${line}" is not.`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export interface Video {
  width: number;
  height: number;
  framerate: number;
  bitrate: number;
}

export interface EncoderConfiguration {
  arn: string;
  name: string;
  video?: Video;
}

export interface StorageConfiguration {
  arn: string;
  name: string;
  s3: { bucketName: string };
}

/** Every encoder configuration with its video settings (the list answer has none: one Get each). */
export async function listEncoderConfigurations(cfg: Config, creds: Creds): Promise<EncoderConfiguration[]> {
  const list = await all<EncoderConfiguration>(cfg, creds, "ListEncoderConfigurations", "encoderConfigurations");
  return Promise.all(list.map(async (e) =>
    (await realtimeApi<{ encoderConfiguration: EncoderConfiguration }>(cfg, creds, "GetEncoderConfiguration", { arn: e.arn })).encoderConfiguration));
}
export const createEncoderConfiguration = (cfg: Config, creds: Creds, name: string, video: Partial<Video>) =>
  realtimeApi<unknown>(cfg, creds, "CreateEncoderConfiguration", { name: name || undefined, video });
export const deleteEncoderConfiguration = (cfg: Config, creds: Creds, arn: string) => realtimeApi<unknown>(cfg, creds, "DeleteEncoderConfiguration", { arn });

export const listStorageConfigurations = (cfg: Config, creds: Creds) =>
  all<StorageConfiguration>(cfg, creds, "ListStorageConfigurations", "storageConfigurations");
export const createStorageConfiguration = (cfg: Config, creds: Creds, name: string, bucketName: string) =>
  realtimeApi<unknown>(cfg, creds, "CreateStorageConfiguration", { name: name || undefined, s3: { bucketName } });
export const deleteStorageConfiguration = (cfg: Config, creds: Creds, arn: string) => realtimeApi<unknown>(cfg, creds, "DeleteStorageConfiguration", { arn });
