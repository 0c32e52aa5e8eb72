import type { ChannelSummary } from "@aws-sdk/client-ivs";

import type { Ctx } from "../console";
import { channelId } from "../config";
import { clear, copyable, errorText, fmtTime, h } from "../dom";
import {
  chatRoomTag, createRoom, deleteRoom, getRoom, linkRoom, listAllChannels, listRooms, moderatorPanel, roomLabel,
  updateRoom, type Room, type RoomSettings,
} from "../rooms";

/** The room settings form's fields, filled from a room (or IVS's defaults). */
function settingsFields(r?: Room) {
  const name = h("input", { id: "room-name", value: r?.name ?? "", maxlength: 128, title: "Letters, digits, - and _" });
  const length = h("input", { id: "room-length", type: "number", min: 1, max: 500, value: r?.maximumMessageLength ?? 500 });
  const rate = h("input", { id: "room-rate", type: "number", min: 1, max: 100, value: r?.maximumMessageRatePerSecond ?? 10 });
  const review = h("input", { id: "room-review", type: "url", placeholder: "https://… (optional)", value: r?.messageReviewHandler?.uri ?? "" });
  const fallback = h("select", { id: "room-fallback" },
    ...["ALLOW", "DENY"].map((v) => h("option", { value: v, selected: (r?.messageReviewHandler?.fallbackResult ?? "ALLOW") === v }, v)));
  const grid = h("div", { class: "grid" },
    h("label", { for: "room-name" }, "Name"), name,
    h("label", { for: "room-length" }, "Longest message (characters)"), length,
    h("label", { for: "room-rate" }, "Messages per second (room)"), rate,
    h("label", { for: "room-review" }, "Message review URL"), review,
    h("label", { for: "room-fallback" }, "If review fails"), fallback);
  const values = (): RoomSettings => {
    const uri = review.value.trim();
    return {
      name: name.value.trim(),
      maximumMessageLength: Number(length.value),
      maximumMessageRatePerSecond: Number(rate.value),
      // On an update an empty uri detaches the handler, as on IVS; a new
      // room without one has none.
      ...(uri || r ? { messageReviewHandler: uri ? { uri, fallbackResult: fallback.value as "ALLOW" } : { uri: "" } } : {}),
    };
  };
  return { grid, values };
}

/** /rooms: the account's rooms, the channels linked to each, a form to create one. */
export function roomsPage(ctx: Ctx, main: HTMLElement): void {
  const error = h("p", { class: "error", role: "alert" });
  const list = h("section", { class: "card" }, h("p", { class: "muted" }, "Loading…"));
  const create = h("section", { class: "card" });
  main.append(h("div", { class: "titlebar" }, h("h1", {}, "Chat rooms")), error, h("div", { class: "columns" }, list, create));

  async function draw(): Promise<void> {
    try {
      const [rooms, channels] = await Promise.all([listRooms(ctx.cfg, ctx.creds), listAllChannels(ctx.ivs)]);
      clear(list);
      list.append(h("h2", {}, "Rooms"));
      if (!rooms.length) {
        list.append(h("p", { class: "muted", "data-testid": "no-rooms" }, "No room yet. Create one, then link it to a channel: its player page gets the chat."));
        return;
      }
      list.append(h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Room"), h("th", {}, "Channels"), h("th", {}, "Limits"), h("th", {}, "Updated"))),
        h("tbody", {}, ...rooms.map((r) => h("tr", { "data-testid": "room-row" },
          h("td", {}, h("a", { href: `/rooms/${r.id}`, "data-link": true, "data-testid": "room-link" }, roomLabel(r))),
          h("td", {}, linkedChannels(channels, r.arn)),
          h("td", { class: "muted small" }, `${r.maximumMessageLength} chars · ${r.maximumMessageRatePerSecond}/s`),
          h("td", { class: "muted small" }, fmtTime(new Date(r.updateTime)))))))));
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  const { grid, values } = settingsFields();
  const msg = h("p", { class: "error", role: "alert", "data-testid": "room-error" });
  create.append(h("h2", {}, "Create a room"), h("form", { onsubmit: async (e: Event) => {
    e.preventDefault();
    msg.textContent = "";
    try {
      const r = await createRoom(ctx.cfg, ctx.creds, values());
      ctx.go(`/rooms/${r.id}`);
    } catch (err) {
      msg.textContent = errorText(err);
    }
  } }, grid, msg, h("div", { class: "actions" }, h("button", { type: "submit", "data-testid": "create-room" }, "Create room"))));
  draw();
}

function linkedChannels(channels: ChannelSummary[], roomArn: string): HTMLElement {
  const linked = channels.filter((c) => c.tags?.[chatRoomTag] === roomArn);
  if (!linked.length) return h("span", { class: "muted" }, "none");
  const span = h("span", { "data-testid": "room-channels" });
  linked.forEach((c, i) => {
    if (i) span.append(", ");
    span.append(h("a", { href: `/channels/${channelId(c.arn!)}`, "data-link": true }, c.name || channelId(c.arn!)));
  });
  return span;
}

/** /rooms/{roomId}: the room's settings, its channels, and its live chat to moderate. */
export function roomPage(ctx: Ctx, main: HTMLElement, id: string): void {
  const arn = `arn:aws:ivschat:${ctx.cfg.region}:${ctx.cfg.account}:room/${id}`;
  const error = h("p", { class: "error", role: "alert" });
  const title = h("h1", {}, id);
  const live = h("div", {});
  const settings = h("section", { class: "card" });
  const channelsCard = h("section", { class: "card" });
  main.append(h("p", {}, h("a", { href: "/rooms", "data-link": true }, "← Chat rooms")), h("div", { class: "titlebar" }, title), error,
    h("div", { class: "columns" }, live, h("div", {}, settings, channelsCard)));

  async function load(): Promise<void> {
    let room: Room;
    try {
      room = await getRoom(ctx.cfg, ctx.creds, arn);
    } catch (err) {
      error.textContent = errorText(err);
      return;
    }
    title.textContent = roomLabel(room);
    const panel = moderatorPanel(ctx.cfg, ctx.creds, arn);
    ctx.onLeave(panel.destroy);
    live.append(panel.el);
    drawSettings(room);
    await drawChannels();
  }

  function drawSettings(room: Room): void {
    const { grid, values } = settingsFields(room);
    const msg = h("p", { class: "error", role: "alert" });
    clear(settings);
    settings.append(h("h2", {}, "Settings"),
      h("dl", { class: "inline" }, h("dt", {}, "ARN"), h("dd", {}, copyable(room.arn, "room-arn")),
        h("dt", {}, "Created"), h("dd", {}, fmtTime(new Date(room.createTime)))),
      h("form", { onsubmit: async (e: Event) => {
        e.preventDefault();
        msg.textContent = "";
        try {
          const r = await updateRoom(ctx.cfg, ctx.creds, arn, values());
          title.textContent = roomLabel(r);
          msg.className = "ok";
          msg.textContent = "Saved.";
        } catch (err) {
          msg.className = "error";
          msg.textContent = errorText(err);
        }
      } }, grid, msg, h("div", { class: "actions" },
        h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "danger", "data-testid": "delete-room", onclick: async () => {
          if (!confirm(`Delete room ${roomLabel(room)}? Everyone in it is disconnected.`)) return;
          try {
            await deleteRoom(ctx.cfg, ctx.creds, arn);
            ctx.go("/rooms");
          } catch (err) {
            msg.className = "error";
            msg.textContent = errorText(err);
          }
        } }, "Delete room"))));
  }

  async function drawChannels(): Promise<void> {
    try {
      const channels = await listAllChannels(ctx.ivs);
      const free = channels.filter((c) => c.tags?.[chatRoomTag] !== arn);
      const sel = h("select", { "aria-label": "Channel", "data-testid": "link-channel" },
        ...free.map((c) => h("option", { value: c.arn! }, `${c.name || channelId(c.arn!)}${c.tags?.[chatRoomTag] ? " (has another room)" : ""}`)));
      clear(channelsCard);
      channelsCard.append(h("h2", {}, "Channels"),
        h("p", { class: "muted small" }, "Viewers of a linked channel's player page chat in this room."),
        linkedChannels(channels, arn),
        ...(free.length ? [h("form", { class: "chat-form", onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await linkRoom(ctx.ivs, sel.value, arn);
            await drawChannels();
          } catch (err) {
            error.textContent = errorText(err);
          }
        } }, sel, h("button", { type: "submit", "data-testid": "link-channel-submit" }, "Link"))] : []));
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  load();
}
