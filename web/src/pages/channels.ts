import {
  CreateChannelCommand,
  ListChannelsCommand,
  ListStreamsCommand,
  type ChannelSummary,
  type StreamSummary,
} from "@aws-sdk/client-ivs";

import type { Ctx } from "../console";
import { channelId } from "../config";
import { channelCreated, fillRecordingSelect, previewToken } from "../api";
import { badge, clear, errorText, fmtTime, h } from "../dom";

const pageSize = 20;
const refreshEvery = 3000;

export function channelsPage(ctx: Ctx, main: HTMLElement): void {
  const filter = h("input", { type: "search", placeholder: "Filter by exact name", "aria-label": "Filter by exact name", "data-testid": "filter" });
  const body = h("tbody");
  const error = h("p", { class: "error", role: "alert" });
  const more = h("button", { type: "button", class: "small", hidden: true }, "Next page");
  const prev = h("button", { type: "button", class: "small", hidden: true, onclick: () => { if (page > 0) { page--; load(); } } }, "Previous page");
  let tokens: Array<string | undefined> = [undefined]; // page starts
  let page = 0;
  let rows: ChannelSummary[] = [];
  let live = new Map<string, StreamSummary>();
  let created = new Map<string, Date>();

  async function load(): Promise<void> {
    try {
      const out = await ctx.ivs.send(new ListChannelsCommand({
        filterByName: filter.value.trim() || undefined, nextToken: tokens[page], maxResults: pageSize,
      }));
      rows = out.channels ?? [];
      tokens = tokens.slice(0, page + 1);
      if (out.nextToken) tokens.push(out.nextToken);
      more.hidden = !out.nextToken;
      prev.hidden = page === 0;
      error.textContent = "";
      created = await channelCreated(ctx.cfg, ctx.creds, rows.map((c) => c.arn!));
      await refreshLive();
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  async function refreshLive(): Promise<void> {
    const m = new Map<string, StreamSummary>();
    let next: string | undefined;
    do {
      const out = await ctx.ivs.send(new ListStreamsCommand({ nextToken: next, maxResults: 100 }));
      for (const s of out.streams ?? []) m.set(s.channelArn!, s);
      next = out.nextToken;
    } while (next);
    live = m;
    draw();
  }

  function draw(): void {
    clear(body);
    if (rows.length === 0) {
      body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, filter.value ? "No channel matches." : "No channels yet: create one.")));
    }
    for (const c of rows) {
      const s = live.get(c.arn!);
      const id = channelId(c.arn!);
      // The live picture, a JPEG the server refreshes every 10 s
      // (--thumbnail-interval); the query defeats the browser cache.
      const thumb = s ? h("img", { class: "thumb", alt: "", loading: "lazy", "data-testid": "thumb" }) : null;
      if (thumb) {
        thumb.addEventListener("error", () => thumb.remove());
        const src = `/api/video/v1/${id}/thumb.jpg?t=${Math.floor(Date.now() / 10000)}`;
        if (c.authorized) {
          // A private channel's thumbnail needs a token, as its playback does.
          previewToken(ctx.cfg, ctx.creds, id).then((tok) => { thumb.src = `${src}&token=${tok}`; }, () => thumb.remove());
        } else {
          thumb.src = src;
        }
      }
      body.append(h("tr", { "data-testid": `row-${id}` },
        h("td", {}, h("a", { href: `/channels/${id}`, "data-link": true, class: "name-cell" }, thumb, c.name || id)),
        h("td", {}, c.type ?? ""),
        h("td", {}, c.latencyMode ?? ""),
        h("td", { "data-testid": "row-status" }, s ? badge("LIVE", "live") : badge("OFFLINE", "off")),
        h("td", {}, s?.health ?? "—"),
        h("td", { class: "num" }, s ? String(s.viewerCount ?? 0) : "—"),
        h("td", { class: "muted" }, fmtTime(created.get(c.arn!))),
      ));
    }
  }

  let filterTimer = 0;
  filter.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = window.setTimeout(() => { tokens = [undefined]; page = 0; load(); }, 250);
  });
  more.addEventListener("click", () => { page++; load(); });

  main.append(
    h("div", { class: "titlebar" }, h("h1", {}, "Channels"), h("span", { class: "spacer" }), filter),
    error,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Latency"), h("th", {}, "Status"),
        h("th", {}, "Health"), h("th", { class: "num" }, "Viewers"), h("th", {}, "Created"))),
      body)),
    h("div", { class: "pager" }, prev, more),
    createForm(ctx),
  );
  load();
  const timer = window.setInterval(() => { refreshLive().catch(() => undefined); }, refreshEvery);
  ctx.onLeave(() => clearInterval(timer));
}

function createForm(ctx: Ctx): HTMLElement {
  const name = h("input", { id: "new-name", name: "name", maxlength: 128, placeholder: "my-channel" });
  const type = h("select", { id: "new-type", name: "type" },
    h("option", { value: "STANDARD" }, "STANDARD"), h("option", { value: "BASIC" }, "BASIC"));
  const latency = h("select", { id: "new-latency", name: "latency" },
    h("option", { value: "LOW" }, "LOW (LL-HLS)"), h("option", { value: "NORMAL" }, "NORMAL (HLS)"));
  const authorized = h("input", { id: "new-authorized", type: "checkbox", name: "authorized" });
  const insecure = h("input", { id: "new-insecure", type: "checkbox", name: "insecure" });
  const tags = h("textarea", { id: "new-tags", name: "tags", rows: 2, placeholder: "team=video\nenv=prod" });
  const recording = h("select", { id: "new-recording", name: "recording" }, h("option", { value: "" }, "None"));
  fillRecordingSelect(ctx.ivs, recording).catch(() => undefined);
  const error = h("p", { class: "error", role: "alert", "data-testid": "create-error" });
  const submit = h("button", { type: "submit" }, "Create channel");
  return h("form", { class: "card", "aria-labelledby": "create-h", onsubmit: async (e: Event) => {
    e.preventDefault();
    error.textContent = "";
    const tagMap: Record<string, string> = {};
    for (const line of tags.value.split("\n").map((l) => l.trim()).filter(Boolean)) {
      const i = line.indexOf("=");
      if (i <= 0) {
        error.textContent = `Tags are key=value, one per line: "${line}" is not.`;
        return;
      }
      tagMap[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    submit.disabled = true;
    try {
      const out = await ctx.ivs.send(new CreateChannelCommand({
        name: name.value.trim() || undefined,
        type: type.value as "STANDARD" | "BASIC",
        latencyMode: latency.value as "LOW" | "NORMAL",
        authorized: authorized.checked || undefined,
        insecureIngest: insecure.checked || undefined,
        recordingConfigurationArn: recording.value || undefined,
        tags: Object.keys(tagMap).length ? tagMap : undefined,
      }));
      ctx.go(`/channels/${channelId(out.channel!.arn!)}`);
    } catch (err) {
      error.textContent = errorText(err); // the API's ValidationException names the field
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", { id: "create-h" }, "Create channel"),
    h("div", { class: "grid" },
      h("label", { for: "new-name" }, "Name"), name,
      h("label", { for: "new-type" }, "Type"), type,
      h("label", { for: "new-latency" }, "Latency"), latency,
      h("label", { for: "new-authorized" }, "Private playback"), h("span", {}, authorized, " viewers need a signed token"),
      h("label", { for: "new-insecure" }, "Insecure ingest"), h("span", {}, insecure, " also accept plain RTMP and unencrypted SRT"),
      h("label", { for: "new-recording" }, "Record to"), recording,
      h("label", { for: "new-tags" }, "Tags"), tags,
    ),
    error, submit,
  );
}
