import { BatchGetChannelCommand } from "@aws-sdk/client-ivs";

import { signedGet, type Usage } from "../api";
import type { Ctx } from "../console";
import { channelId } from "../config";
import { clear, errorText, h } from "../dom";

const hours = (n: number) => n.toFixed(n < 10 ? 3 : 1);

/** Input and viewer hours per channel for a month (GET /v1/usage). */
export function usagePage(ctx: Ctx, main: HTMLElement): void {
  const now = new Date();
  const current = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
  const month = h("input", { type: "month", id: "usage-month", value: current, max: current, "aria-label": "Month (UTC)" });
  const error = h("p", { class: "error", role: "alert" });
  const quota = h("p", { "data-testid": "usage-quota" });
  const body = h("tbody");
  const foot = h("tfoot");

  async function load(): Promise<void> {
    try {
      const u = await signedGet<Usage>(ctx.cfg, ctx.creds, "/v1/usage", month.value ? { month: month.value } : {});
      // Names of the channels that still exist; deleted ones show their id.
      const names = new Map<string, string>();
      const arns = u.channels.map((c) => c.channelArn);
      for (let i = 0; i < arns.length; i += 100) {
        const out = await ctx.ivs.send(new BatchGetChannelCommand({ arns: arns.slice(i, i + 100) }));
        for (const c of out.channels ?? []) if (c.name) names.set(c.arn!, c.name);
      }
      error.textContent = "";
      clear(body);
      clear(foot);
      for (const c of u.channels) {
        const id = channelId(c.channelArn);
        body.append(h("tr", { "data-testid": `usage-${id}` },
          h("td", {}, names.has(c.channelArn) ? h("a", { href: `/channels/${id}`, "data-link": true }, names.get(c.channelArn)!) : h("span", { class: "muted" }, `${id} (deleted)`)),
          h("td", { class: "num" }, hours(c.inputHours)),
          h("td", { class: "num" }, hours(c.viewerHours)),
        ));
      }
      if (u.channels.length === 0) body.append(h("tr", {}, h("td", { colspan: 3, class: "muted" }, "Nothing streamed this month.")));
      foot.append(h("tr", {}, h("th", {}, "Total"), h("th", { class: "num", "data-testid": "usage-total-input" }, hours(u.total.inputHours)),
        h("th", { class: "num" }, hours(u.total.viewerHours))));
      quota.textContent = u.inputQuota
        ? `Input quota: ${hours(u.inputQuota.hours)} h a month, ${hours(u.inputQuota.remainingHours)} h left. A new stream is refused once it is used up.`
        : "No input quota is set (--input-hours-quota).";
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  month.addEventListener("change", load);
  main.append(
    h("div", { class: "titlebar" }, h("h1", {}, "Usage"), h("span", { class: "spacer" }), month),
    error,
    h("p", { class: "muted" }, "Input hours: time channels were live. Viewer-hours: concurrent viewers summed over each second. Months are in UTC."),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Channel"), h("th", { class: "num" }, "Input hours"), h("th", { class: "num" }, "Viewer-hours"))),
      body, foot)),
    quota,
  );
  load();
}
