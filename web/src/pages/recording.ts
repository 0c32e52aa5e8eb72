import {
  CreateRecordingConfigurationCommand,
  DeleteRecordingConfigurationCommand,
  ListRecordingConfigurationsCommand,
  GetRecordingConfigurationCommand,
  type RecordingConfiguration,
} from "@aws-sdk/client-ivs";

import type { Ctx } from "../console";
import { badge, clear, errorText, h } from "../dom";

/** Recording configurations: where channels record to (docs/recording.md). */
export function recordingPage(ctx: Ctx, main: HTMLElement): void {
  const error = h("p", { class: "error", role: "alert" });
  const body = h("tbody");

  async function load(): Promise<void> {
    try {
      const rows: RecordingConfiguration[] = [];
      let next: string | undefined;
      do {
        const out = await ctx.ivs.send(new ListRecordingConfigurationsCommand({ nextToken: next, maxResults: 100 }));
        // The summaries lack the settings: get each (20 at most, IVS's quota).
        for (const s of out.recordingConfigurations ?? []) {
          rows.push((await ctx.ivs.send(new GetRecordingConfigurationCommand({ arn: s.arn }))).recordingConfiguration!);
        }
        next = out.nextToken;
      } while (next);
      clear(body);
      if (rows.length === 0) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No recording configurations yet.")));
      for (const r of rows) {
        const id = r.arn!.slice(r.arn!.lastIndexOf("/") + 1);
        const state = r.state === "ACTIVE" ? badge("ACTIVE", "ok-badge") : r.state === "CREATING" ? badge("CREATING", "off") : badge(r.state ?? "", "warn");
        const thumbs = r.thumbnailConfiguration?.recordingMode === "DISABLED" ? "off"
          : `every ${r.thumbnailConfiguration?.targetIntervalSeconds ?? 60} s (${(r.thumbnailConfiguration?.storage ?? []).join(", ").toLowerCase()})`;
        body.append(h("tr", { "data-testid": `rc-${id}` },
          h("td", {}, r.name || id),
          h("td", {}, h("code", {}, r.destinationConfiguration?.s3?.bucketName ?? "")),
          h("td", { "data-testid": "rc-state" }, state),
          h("td", { class: "num" }, `${r.recordingReconnectWindowSeconds ?? 0} s`),
          h("td", {}, thumbs),
          h("td", {}, h("button", { type: "button", class: "small", onclick: async () => {
            if (!confirm(`Delete recording configuration ${r.name || id}?`)) return;
            try {
              await ctx.ivs.send(new DeleteRecordingConfigurationCommand({ arn: r.arn }));
              await load();
            } catch (err) {
              error.textContent = errorText(err); // e.g. still used by a channel
            }
          } }, "Delete")),
        ));
      }
      error.textContent = "";
      // CREATING turns ACTIVE (or CREATE_FAILED) in a moment.
      if (rows.some((r) => r.state === "CREATING")) setTimeout(load, 1000);
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  const name = h("input", { id: "rc-name", maxlength: 128, placeholder: "my-recordings" });
  const bucket = h("input", { id: "rc-bucket", required: true, placeholder: "bucket-name" });
  const windowSecs = h("input", { id: "rc-window", type: "number", min: 0, max: 300, value: 0 });
  const interval = h("input", { id: "rc-interval", type: "number", min: 1, max: 60, value: 60 });
  const formError = h("p", { class: "error", role: "alert", "data-testid": "rc-error" });
  const form = h("form", { class: "card", onsubmit: async (e: Event) => {
    e.preventDefault();
    formError.textContent = "";
    try {
      await ctx.ivs.send(new CreateRecordingConfigurationCommand({
        name: name.value.trim() || undefined,
        destinationConfiguration: { s3: { bucketName: bucket.value.trim() } },
        recordingReconnectWindowSeconds: Number(windowSecs.value) || 0,
        thumbnailConfiguration: { recordingMode: "INTERVAL", targetIntervalSeconds: Number(interval.value) || 60 },
      }));
      name.value = bucket.value = "";
      await load();
    } catch (err) {
      formError.textContent = errorText(err);
    }
  } },
    h("h2", {}, "Create recording configuration"),
    h("div", { class: "grid" },
      h("label", { for: "rc-name" }, "Name"), name,
      h("label", { for: "rc-bucket" }, "S3 bucket"), bucket,
      h("label", { for: "rc-window" }, "Reconnect window (s)"), windowSecs,
      h("label", { for: "rc-interval" }, "Thumbnail every (s)"), interval),
    h("p", { class: "muted small" }, "Without an S3 endpoint configured on the server, a bucket is a directory in its data dir."),
    formError, h("button", { type: "submit" }, "Create"));

  main.append(
    h("div", { class: "titlebar" }, h("h1", {}, "Recording")),
    error,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Bucket"), h("th", {}, "State"), h("th", { class: "num" }, "Reconnect window"),
        h("th", {}, "Thumbnails"), h("th", {}, ""))),
      body)),
    form,
  );
  load();
}
