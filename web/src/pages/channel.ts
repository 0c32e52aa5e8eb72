import {
  CreateStreamKeyCommand,
  DeleteChannelCommand,
  DeleteStreamKeyCommand,
  GetChannelCommand,
  GetStreamCommand,
  GetStreamKeyCommand,
  ListStreamKeysCommand,
  ListStreamSessionsCommand,
  StopStreamCommand,
  UpdateChannelCommand,
  type Channel,
  type StreamSessionSummary,
  type _Stream as Stream,
} from "@aws-sdk/client-ivs";

import type { Ctx } from "../console";
import { channelCreated, fillRecordingSelect, previewToken } from "../api";
import { channelArn, webBroadcastEndpoint } from "../config";
import { badge, clear, copyable, errorText, fmtDuration, fmtTime, h } from "../dom";
import { attach, type Player } from "../player";
import type { ChatPanel } from "../chat";
import { chatRoomTag, linkRoom, listRooms, moderatorPanel, roomLabel } from "../rooms";

const pollEvery = 2000;

export function channelPage(ctx: Ctx, main: HTMLElement, id: string): void {
  const arn = channelArn(ctx.cfg, id);
  const error = h("p", { class: "error", role: "alert" });
  const status = h("div", { class: "status", "aria-live": "polite" });
  const config = h("section", { class: "card" });
  const preview = h("section", { class: "card" });
  const sessions = h("section", { class: "card" });
  const manage = h("section", { class: "card" });
  const chat = h("div", {});
  const title = h("h1", {}, id);
  main.append(h("p", {}, h("a", { href: "/", "data-link": true }, "← Channels")), h("div", { class: "titlebar" }, title, status),
    error, h("div", { class: "columns" }, h("div", {}, preview, chat, sessions), h("div", {}, config, manage)));

  const video = h("video", { "data-testid": "preview", controls: true, muted: true, playsinline: true });
  const previewState = h("p", { class: "muted", "data-testid": "preview-state" }, "Offline: start your encoder to see it here.");
  preview.append(h("h2", {}, "Live preview"), video, previewState);
  let player: Player | null = null;
  let starting = false; // a preview is being set up (its token fetched)
  let channel: Channel | undefined;
  let created: Date | undefined;
  // null: the sessions list was never drawn; then the id of the live stream
  // (undefined while offline) it was last drawn for.
  let lastStreamId: string | undefined | null = null;

  function stopPreview(): void {
    player?.destroy();
    player = null;
    video.removeAttribute("src");
  }
  ctx.onLeave(stopPreview);

  // The linked room's chat, to moderate beside the preview.
  let chatRoomArn = "";
  let panel: ChatPanel | null = null;
  function drawChat(roomArn: string): void {
    if (roomArn === chatRoomArn && (panel || !roomArn)) return;
    chatRoomArn = roomArn;
    panel?.destroy();
    panel = null;
    clear(chat);
    if (!roomArn) return;
    panel = moderatorPanel(ctx.cfg, ctx.creds, roomArn);
    const rid = roomArn.slice(roomArn.lastIndexOf("/") + 1);
    panel.el.querySelector(".chat-head h2")?.append(" ", h("a", { href: `/rooms/${rid}`, "data-link": true, class: "small", "data-testid": "chat-room-link" }, "room"));
    chat.append(panel.el);
  }
  ctx.onLeave(() => panel?.destroy());

  async function loadChannel(): Promise<void> {
    try {
      channel = (await ctx.ivs.send(new GetChannelCommand({ arn }))).channel;
      title.textContent = channel?.name || id;
      created = (await channelCreated(ctx.cfg, ctx.creds, [arn])).get(arn);
      await drawConfig();
      drawManage();
      drawChat(channel?.tags?.[chatRoomTag] ?? "");
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  async function drawConfig(): Promise<void> {
    const c = channel!;
    const keys = await ctx.ivs.send(new ListStreamKeysCommand({ channelArn: arn }));
    const keyArn = keys.streamKeys?.[0]?.arn;
    const key = keyArn ? (await ctx.ivs.send(new GetStreamKeyCommand({ arn: keyArn }))).streamKey : undefined;
    const host = c.ingestEndpoint ?? location.hostname;
    const hostOnly = host.replace(/:\d+$/, "");
    const sdkEndpoint = webBroadcastEndpoint(ctx.cfg, hostOnly);
    clear(config);
    config.append(
      h("h2", {}, "Stream configuration"),
      h("dl", {},
        h("dt", {}, "Ingest server (RTMPS)"), h("dd", {}, copyable(`rtmps://${host}/app/`, "ingest-rtmps")),
        // Plain RTMP is refused unless the channel allows insecure ingest, as on IVS.
        ...(c.insecureIngest ? [
          h("dt", {}, "Ingest server (RTMP)"), h("dd", {}, copyable(`rtmp://${hostOnly}:${ctx.cfg.rtmpPort}/app/`, "ingest-rtmp")),
        ] : []),
        ...(c.srt?.endpoint ? [
          h("dt", {}, "Ingest server (SRT)"), h("dd", {}, copyable(`srt://${c.srt.endpoint}`, "ingest-srt")),
          h("dt", {}, "SRT passphrase"), h("dd", {}, copyable(c.srt.passphrase ?? "", "srt-passphrase", true)),
          // What ffmpeg and OBS take as one URL: the key in streamid, the passphrase to encrypt.
          h("dt", {}, "SRT URL"), h("dd", {}, key?.value
            ? copyable(`srt://${c.srt.endpoint}?streamid=${encodeURIComponent(key.value)}&passphrase=${encodeURIComponent(c.srt.passphrase ?? "")}`, "srt-url", true)
            : h("span", { class: "muted" }, "needs a stream key")),
        ] : []),
        h("dt", {}, "Stream key"), h("dd", {}, key?.value ? copyable(key.value, "stream-key", true) : h("span", { class: "muted" }, "none"),
          " ", h("button", { type: "button", class: "small", "data-testid": "rotate-key", onclick: () => rotate(keyArn) }, keyArn ? "Rotate" : "Create")),
        // IVS's Web Broadcast SDK takes https endpoints only, so it gets
        // the HTTPS listener rather than the RTMPS ingest endpoint.
        ...(sdkEndpoint ? [
          h("dt", {}, "Web Broadcast SDK endpoint"), h("dd", {}, copyable(sdkEndpoint, "ingest-web-broadcast")),
        ] : []),
        h("dt", {}, "Playback URL"), h("dd", {}, copyable(c.playbackUrl ?? "", "playback-url")),
        h("dt", {}, "Player page"), h("dd", {}, h("a", { href: `/play/${id}`, target: "_blank", "data-testid": "player-link" }, `${location.origin}/play/${id}`)),
      ),
      h("p", { class: "muted small" }, "In OBS: Settings → Stream → Service Custom; Server is the ingest server, Stream Key the key."),
      ...(sdkEndpoint ? [h("p", { class: "muted small", "data-testid": "web-broadcast-help" },
        "In a page built on IVS's Web Broadcast SDK (e.g. its demo): the ingest endpoint is the Web Broadcast SDK endpoint, the stream key the key. ",
        "With onair's self-signed certificate, open ", h("a", { href: `${sdkEndpoint}/`, target: "_blank" }, `${sdkEndpoint}/`),
        " once in that browser and accept the certificate first.")] : []),
    );
  }

  async function rotate(keyArn?: string): Promise<void> {
    if (keyArn && !confirm("Rotate the stream key? Encoders using the old key can no longer start a stream.")) return;
    try {
      if (keyArn) await ctx.ivs.send(new DeleteStreamKeyCommand({ arn: keyArn }));
      await ctx.ivs.send(new CreateStreamKeyCommand({ channelArn: arn }));
      await drawConfig();
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  function drawManage(): void {
    const c = channel!;
    const name = h("input", { id: "edit-name", value: c.name ?? "", maxlength: 128 });
    const type = h("select", { id: "edit-type" }, ...["STANDARD", "BASIC"].map((t) => h("option", { value: t, selected: c.type === t }, t)));
    const latency = h("select", { id: "edit-latency" }, ...["LOW", "NORMAL"].map((t) => h("option", { value: t, selected: c.latencyMode === t }, t)));
    const authorized = h("input", { id: "edit-authorized", type: "checkbox", checked: !!c.authorized });
    const insecure = h("input", { id: "edit-insecure", type: "checkbox", checked: !!c.insecureIngest });
    const recording = h("select", { id: "edit-recording" }, h("option", { value: "" }, "None"));
    fillRecordingSelect(ctx.ivs, recording, c.recordingConfigurationArn ?? "").catch(() => undefined);
    const linked = c.tags?.[chatRoomTag] ?? "";
    const room = h("select", { id: "edit-chat" }, h("option", { value: "" }, "None"), linked ? h("option", { value: linked, selected: true }, linked) : null);
    listRooms(ctx.cfg, ctx.creds).then((rooms) => room.replaceChildren(h("option", { value: "" }, "None"),
      ...rooms.map((r) => h("option", { value: r.arn, selected: r.arn === linked }, roomLabel(r))))).catch(() => undefined);
    const msg = h("p", { class: "error", role: "alert" });
    clear(manage);
    manage.append(h("h2", {}, "Settings"),
      h("dl", {}, h("dt", {}, "ARN"), h("dd", {}, copyable(arn, "channel-arn")), h("dt", {}, "Created"), h("dd", { "data-testid": "created" }, fmtTime(created))),
      h("form", { onsubmit: async (e: Event) => {
      e.preventDefault();
      msg.textContent = "";
      try {
        const before = channel?.tags?.[chatRoomTag] ?? "";
        channel = (await ctx.ivs.send(new UpdateChannelCommand({
          arn, name: name.value.trim(), type: type.value as "STANDARD", latencyMode: latency.value as "LOW",
          authorized: authorized.checked, insecureIngest: insecure.checked, recordingConfigurationArn: recording.value,
        }))).channel;
        if (room.value !== before) {
          await linkRoom(ctx.ivs, arn, room.value);
          channel = (await ctx.ivs.send(new GetChannelCommand({ arn }))).channel;
        }
        drawChat(channel?.tags?.[chatRoomTag] ?? "");
        await drawConfig();
        title.textContent = channel?.name || id;
        msg.textContent = "Saved.";
        msg.className = "ok";
      } catch (err) {
        msg.className = "error";
        msg.textContent = errorText(err); // e.g. a live channel cannot be changed
      }
    } },
      h("div", { class: "grid" },
        h("label", { for: "edit-name" }, "Name"), name,
        h("label", { for: "edit-type" }, "Type"), type,
        h("label", { for: "edit-latency" }, "Latency"), latency,
        h("label", { for: "edit-authorized" }, "Private playback"), authorized,
        h("label", { for: "edit-insecure" }, "Insecure ingest (RTMP)"), insecure,
        h("label", { for: "edit-recording" }, "Record to"), recording,
        h("label", { for: "edit-chat" }, "Chat room"), room),
      msg,
      h("div", { class: "actions" },
        h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm(`Delete channel ${c.name || id}? Its stream key goes with it.`)) return;
          try {
            await ctx.ivs.send(new DeleteChannelCommand({ arn }));
            ctx.go("/");
          } catch (err) {
            msg.className = "error";
            msg.textContent = errorText(err);
          }
        } }, "Delete channel")),
    ));
  }

  function drawStatus(s: Stream | undefined): void {
    clear(status);
    if (!s) {
      status.append(badge("OFFLINE", "off", "status"));
      return;
    }
    status.append(
      badge("LIVE", "live", "status"),
      h("span", { "data-testid": "health" }, `health ${s.health}`),
      h("span", { "data-testid": "viewers" }, s.viewerCount === 1 ? "1 viewer" : `${s.viewerCount ?? 0} viewers`),
      h("span", { class: "muted" }, `since ${fmtTime(s.startTime)}`),
      h("button", { type: "button", class: "danger", "data-testid": "stop-stream", onclick: async () => {
        if (!confirm("Stop the stream? The encoder is disconnected at once.")) return;
        try {
          await ctx.ivs.send(new StopStreamCommand({ channelArn: arn }));
          await poll();
        } catch (err) {
          error.textContent = errorText(err);
        }
      } }, "Stop stream"),
    );
  }

  async function poll(): Promise<void> {
    let s: Stream | undefined;
    try {
      s = (await ctx.ivs.send(new GetStreamCommand({ channelArn: arn }))).stream;
    } catch (err) {
      if ((err as { name?: string }).name !== "ChannelNotBroadcasting") {
        error.textContent = errorText(err);
        return;
      }
    }
    drawStatus(s);
    if (s && !player && !starting) {
      previewState.textContent = "Connecting…";
      starting = true;
      try {
        // A private channel's preview needs a token; the console gets one as the admin.
        const url = channel?.authorized ? `${s.playbackUrl}?token=${await previewToken(ctx.cfg, ctx.creds, id)}` : s.playbackUrl!;
        player = attach(video, url, channel?.latencyMode === "LOW", (st) => (previewState.textContent = st));
      } catch (err) {
        previewState.textContent = errorText(err);
      } finally {
        starting = false;
      }
    } else if (!s && player) {
      stopPreview();
      previewState.textContent = "Offline: start your encoder to see it here.";
    }
    if (s?.streamId !== lastStreamId) {
      lastStreamId = s?.streamId;
      await drawSessions();
    }
  }

  // Sessions are listed newest first, 20 at a time; "Older sessions" adds the next 20.
  async function drawSessions(): Promise<void> {
    try {
      const out = await ctx.ivs.send(new ListStreamSessionsCommand({ channelArn: arn, maxResults: 20 }));
      clear(sessions);
      const row = (s: StreamSessionSummary) => h("tr", {},
        h("td", {}, h("a", { href: `/channels/${id}/sessions/${s.streamId}`, "data-link": true, "data-testid": "session-link" }, fmtTime(s.startTime))),
        h("td", {}, s.endTime ? fmtDuration(s.endTime.getTime() - s.startTime!.getTime()) : badge("LIVE", "live")),
        h("td", {}, s.hasErrorEvent ? badge("errors", "warn") : ""),
      );
      const body = h("tbody", {}, ...(out.streamSessions ?? []).map(row));
      let next = out.nextToken;
      const older: HTMLButtonElement = h("button", { type: "button", class: "small", hidden: !next, "data-testid": "older-sessions", onclick: async () => {
        try {
          const more = await ctx.ivs.send(new ListStreamSessionsCommand({ channelArn: arn, maxResults: 20, nextToken: next }));
          body.append(...(more.streamSessions ?? []).map(row));
          next = more.nextToken;
          older.hidden = !next;
        } catch (err) {
          error.textContent = errorText(err);
        }
      } }, "Older sessions");
      sessions.append(h("h2", {}, "Stream sessions"), body.childElementCount
        ? h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Duration"), h("th", {}, ""))), body))
        : h("p", { class: "muted" }, "No stream yet."), h("div", { class: "pager" }, older));
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  loadChannel().then(poll);
  const timer = window.setInterval(() => { poll(); }, pollEvery);
  ctx.onLeave(() => clearInterval(timer));
}
