import { signedGet, type ClusterInfo } from "../api";
import type { Ctx } from "../console";
import { clear, errorText, h } from "../dom";

/** How often the page reads GET /v1/cluster again. */
const refreshMs = 2000;

/** The cluster's nodes, their load and the channels each publishes (GET /v1/cluster). */
export function clusterPage(ctx: Ctx, main: HTMLElement): void {
  const error = h("p", { class: "error", role: "alert" });
  const summary = h("p", { "data-testid": "cluster-summary" });
  const body = h("tbody");

  async function load(): Promise<void> {
    try {
      const c = await signedGet<ClusterInfo>(ctx.cfg, ctx.creds, "/v1/cluster");
      error.textContent = "";
      clear(body);
      const serving = c.nodes.filter((n) => n.state === "serving").length;
      const mine = c.nodes.find((n) => n.nodeId === c.nodeId)?.webhooksConfig ?? "";
      const differ = c.nodes.filter((n) => n.state === "serving" && n.webhooksConfig !== mine).length;
      summary.textContent = `${serving} of ${c.nodes.length} nodes serving; this page is served by ${c.nodeId}. ` +
        `A node that stops heartbeating for ${c.leaseTtlSeconds} s is lost, and its channels may go live on another node.` +
        (differ ? ` ${differ} serving node(s) have other webhook settings than this one: give every node the same.` : "");
      for (const n of c.nodes) {
        body.append(h("tr", { "data-testid": `node-${n.nodeId}` },
          h("td", {}, n.nodeId === c.nodeId ? `${n.nodeId} (this one)` : n.nodeId),
          h("td", { "data-testid": `node-${n.nodeId}-state` }, h("span", { class: n.state === "serving" ? "badge ok-badge" : n.state === "lost" ? "badge warn" : "badge off" }, n.state)),
          h("td", { class: "small" }, n.addr),
          h("td", { class: "small" }, n.version),
          h("td", { class: "num" }, n.heartbeatAgeSeconds.toFixed(1)),
          h("td", { class: "num", "data-testid": `node-${n.nodeId}-publishers` }, String(n.publishers)),
          h("td", { class: "num" }, String(n.viewers)),
          h("td", {}, ...n.channels.flatMap((id, i) => [i ? ", " : "", h("a", { href: `/channels/${id}`, "data-link": true }, id)])),
          h("td", { class: "small" }, n.state === "serving" && n.webhooksConfig !== mine
            ? h("span", { class: "badge warn", title: "other webhook settings than this node's" }, n.webhooksConfig || "?")
            : n.webhooksConfig),
        ));
      }
    } catch (err) {
      const text = errorText(err);
      error.textContent = /not a cluster/.test(text) ? "" : text;
      if (/not a cluster/.test(text)) {
        summary.textContent = "This onair runs as one process. Several onair processes on one PostgreSQL database and a NATS server make a cluster: see docs/cluster.md.";
      }
    }
  }

  const timer = setInterval(load, refreshMs);
  ctx.onLeave(() => clearInterval(timer));
  main.append(
    h("div", { class: "titlebar" }, h("h1", {}, "Cluster")),
    error,
    summary,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Node"), h("th", {}, "State"), h("th", {}, "Address"), h("th", {}, "Version"),
        h("th", { class: "num" }, "Heartbeat (s ago)"), h("th", { class: "num" }, "Publishers"), h("th", { class: "num" }, "Viewers"),
        h("th", {}, "Live channels"), h("th", {}, "Webhook settings"))),
      body)),
  );
  load();
}
