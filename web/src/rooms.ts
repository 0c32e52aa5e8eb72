// IVS Chat rooms as the console sees them: the control plane's wire shapes
// (signed for "ivschat", through chatApi) and the link between a room and a
// channel, the channel tag onair:chat-room that the player page's chat uses.
import { ListChannelsCommand, TagResourceCommand, UntagResourceCommand, type ChannelSummary, type IvsClient } from "@aws-sdk/client-ivs";

import { chatApi, type Creds } from "./api";
import { chatPanel, type ChatPanel } from "./chat";
import type { ChatToken } from "./chatclient";
import type { Config } from "./config";

/** The channel tag that names a channel's chat room (internal/api). */
export const chatRoomTag = "onair:chat-room";

export interface Room {
  arn: string;
  id: string;
  name?: string;
  createTime: string;
  updateTime: string;
  maximumMessageLength: number;
  maximumMessageRatePerSecond: number;
  messageReviewHandler?: { uri?: string; fallbackResult?: "ALLOW" | "DENY" };
  loggingConfigurationIdentifiers?: string[];
  tags?: Record<string, string>;
}

export type RoomSettings = Partial<Pick<Room, "name" | "maximumMessageLength" | "maximumMessageRatePerSecond" | "messageReviewHandler">>;

/** Every room of the account (all pages of ListRooms), most recently updated first. */
export async function listRooms(cfg: Config, creds: Creds): Promise<Room[]> {
  const rooms: Room[] = [];
  let nextToken: string | undefined;
  do {
    const out = await chatApi<{ rooms: Room[]; nextToken?: string }>(cfg, creds, "ListRooms", { maxResults: 50, nextToken });
    rooms.push(...out.rooms);
    nextToken = out.nextToken;
  } while (nextToken);
  return rooms;
}

export const getRoom = (cfg: Config, creds: Creds, identifier: string) => chatApi<Room>(cfg, creds, "GetRoom", { identifier });
export const createRoom = (cfg: Config, creds: Creds, s: RoomSettings) => chatApi<Room>(cfg, creds, "CreateRoom", { ...s });
export const updateRoom = (cfg: Config, creds: Creds, identifier: string, s: RoomSettings) =>
  chatApi<Room>(cfg, creds, "UpdateRoom", { identifier, ...s });
export const deleteRoom = (cfg: Config, creds: Creds, identifier: string) => chatApi<unknown>(cfg, creds, "DeleteRoom", { identifier });

/**
 * The console's chat panel for a room: as "Moderator", with a token of
 * every capability, and delete and disconnect on every message.
 */
export function moderatorPanel(cfg: Config, creds: Creds, roomArn: string): ChatPanel {
  const userId = `moderator-${creds.accessKeyId}`;
  return chatPanel({
    name: "Moderator", moderator: { userId },
    token: () => chatApi<ChatToken>(cfg, creds, "CreateChatToken", {
      roomIdentifier: roomArn, userId, sessionDurationInMinutes: 180,
      capabilities: ["SEND_MESSAGE", "DELETE_MESSAGE", "DISCONNECT_USER"],
      attributes: { displayName: "Moderator", role: "moderator" },
    }),
  });
}

/** Every channel of the account (all pages of ListChannels, with their tags). */
export async function listAllChannels(ivs: IvsClient): Promise<ChannelSummary[]> {
  const out: ChannelSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ivs.send(new ListChannelsCommand({ maxResults: 100, nextToken }));
    out.push(...(page.channels ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

/** Links a channel to a room ("" unlinks it). */
export async function linkRoom(ivs: IvsClient, channelArn: string, roomArn: string): Promise<void> {
  if (roomArn) await ivs.send(new TagResourceCommand({ resourceArn: channelArn, tags: { [chatRoomTag]: roomArn } }));
  else await ivs.send(new UntagResourceCommand({ resourceArn: channelArn, tagKeys: [chatRoomTag] }));
}

export function roomLabel(r: Room): string {
  return r.name || r.id;
}
