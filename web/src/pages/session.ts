import { GetStreamSessionCommand, type StreamSession } from "@aws-sdk/client-ivs";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { signedGet, type MetricPoint, type SessionMetrics } from "../api";
import type { Ctx } from "../console";
import { channelArn } from "../config";
import { clear, errorText, fmtDuration, fmtTime, h } from "../dom";

const refreshEvery = 2000;

interface Series {
  title: string;
  unit: string;
  value: (p: MetricPoint) => number;
  stat: Exclude<keyof SessionMetrics["stats"], "points">;
  scale: number; // stats are in base units; the chart shows value/scale
}

const series: Series[] = [
  { title: "Video bitrate", unit: "kbps", value: (p) => p.videoBitrate / 1000, stat: "videoBitrate", scale: 1000 },
  { title: "Frame rate", unit: "fps", value: (p) => p.framerate, stat: "framerate", scale: 1 },
  { title: "Audio bitrate", unit: "kbps", value: (p) => p.audioBitrate / 1000, stat: "audioBitrate", scale: 1000 },
  { title: "Viewers", unit: "", value: (p) => p.viewers, stat: "viewers", scale: 1 },
];

const textColor = () => getComputedStyle(document.body).color;
const lineColor = () => getComputedStyle(document.body).getPropertyValue("--line").trim() || "#8884";

export function sessionPage(ctx: Ctx, main: HTMLElement, id: string, streamId: string): void {
  const arn = channelArn(ctx.cfg, id);
  const error = h("p", { class: "error", role: "alert" });
  const summary = h("section", { class: "card" });
  const charts = h("section", { class: "card charts", "data-testid": "charts" });
  const encoder = h("section", { class: "card" });
  const events = h("section", { class: "card" });
  main.append(
    h("p", {}, h("a", { href: `/channels/${id}`, "data-link": true }, "← Channel")),
    h("h1", {}, "Stream session ", h("code", {}, streamId)),
    error, summary, charts, h("div", { class: "columns" }, h("div", {}, encoder), h("div", {}, events)),
  );
  const plots: uPlot[] = [];
  const theme = matchMedia("(prefers-color-scheme: dark)");
  const recolor = () => plots.forEach((p) => p.redraw(false, true));
  theme.addEventListener("change", recolor);
  ctx.onLeave(() => {
    theme.removeEventListener("change", recolor);
    plots.forEach((p) => p.destroy());
  });
  let live = true;

  async function load(): Promise<void> {
    try {
      const [ss, m] = await Promise.all([
        ctx.ivs.send(new GetStreamSessionCommand({ channelArn: arn, streamId })),
        signedGet<SessionMetrics>(ctx.cfg, ctx.creds, `/v1/channels/${id}/sessions/${streamId}/metrics`),
      ]);
      live = m.live;
      drawSummary(ss.streamSession!, m);
      drawCharts(m);
      drawEncoder(ss.streamSession!);
      drawEvents(ss.streamSession!);
      error.textContent = "";
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  function drawSummary(s: StreamSession, m: SessionMetrics): void {
    clear(summary);
    const end = s.endTime;
    summary.append(h("dl", { class: "inline" },
      h("dt", {}, "Started"), h("dd", {}, fmtTime(s.startTime)),
      h("dt", {}, "Ended"), h("dd", {}, end ? fmtTime(end) : "live"),
      h("dt", {}, "Duration"), h("dd", {}, fmtDuration((end ?? new Date()).getTime() - s.startTime!.getTime())),
      h("dt", {}, "Points"), h("dd", {}, String(m.stats.points)),
    ));
    const rows = series.map((se) => {
      const a = m.stats[se.stat];
      const f = (v: number) => (a.samples ? (v / se.scale).toFixed(se.scale > 1 ? 0 : 1) : "—");
      return h("tr", {}, h("td", {}, se.title), h("td", { class: "num" }, f(a.min)), h("td", { class: "num" }, f(a.avg)),
        h("td", { class: "num" }, f(a.max)), h("td", {}, se.unit));
    });
    summary.append(h("table", { class: "stats" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", { class: "num" }, "min"), h("th", { class: "num" }, "avg"), h("th", { class: "num" }, "max"), h("th", {}, ""))),
      h("tbody", {}, ...rows)));
  }

  function drawCharts(m: SessionMetrics): void {
    const xs = m.points.map((p) => Date.parse(p.time) / 1000);
    if (xs.length === 0) {
      plots.forEach((p) => p.destroy());
      plots.length = 0;
      clear(charts);
      charts.append(h("h2", {}, "Metrics"), h("p", { class: "muted", "data-testid": "no-data" }, "No data yet: points appear after the first whole second of a stream."));
      return;
    }
    if (plots.length === series.length) {
      series.forEach((se, i) => plots[i].setData([xs, m.points.map(se.value)]));
      return;
    }
    clear(charts);
    charts.append(h("h2", {}, "Metrics"));
    const width = Math.max(280, Math.min(charts.clientWidth - 32, 900));
    for (const se of series) {
      const box = h("div", { class: "chart", "data-testid": `chart-${se.stat}` });
      charts.append(box);
      plots.push(new uPlot({
        title: se.unit ? `${se.title} (${se.unit})` : se.title,
        width, height: 160,
        scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), Math.max(1, max * 1.1)] } },
        // Read the theme's text colour at each draw, so a switch of the
        // system theme recolours the axes (see the listener below).
        axes: [{ stroke: textColor, grid: { stroke: lineColor } }, { stroke: textColor, grid: { stroke: lineColor } }],
        series: [{}, { label: se.title, stroke: "#3b82f6", width: 2, points: { show: xs.length < 60 } }],
      }, [xs, m.points.map(se.value)], box));
    }
  }

  function drawEncoder(s: StreamSession): void {
    clear(encoder);
    encoder.append(h("h2", {}, "Encoder settings"));
    const v = s.ingestConfigurations?.videoConfigurations ?? [];
    const a = s.ingestConfigurations?.audioConfigurations ?? [];
    if (v.length + a.length === 0) {
      encoder.append(h("p", { class: "muted" }, "Not known."));
      return;
    }
    for (const c of v) {
      encoder.append(h("h3", {}, `Video ${c.track ?? ""}`), h("dl", { class: "inline", "data-testid": "video-config" },
        h("dt", {}, "Codec"), h("dd", {}, `${c.codec} (${c.profile} ${c.level})`),
        h("dt", {}, "Resolution"), h("dd", {}, `${c.videoWidth}×${c.videoHeight}`),
        h("dt", {}, "Frame rate"), h("dd", {}, `${c.targetFramerate} fps`),
        h("dt", {}, "Bitrate"), h("dd", {}, c.targetBitrate ? `${Math.round(c.targetBitrate / 1000)} kbps` : "not declared"),
        h("dt", {}, "Encoder"), h("dd", {}, c.encoder || "not declared")));
    }
    for (const c of a) {
      encoder.append(h("h3", {}, `Audio ${c.track ?? ""}`), h("dl", { class: "inline" },
        h("dt", {}, "Codec"), h("dd", {}, c.codec ?? ""),
        h("dt", {}, "Sample rate"), h("dd", {}, `${c.sampleRate} Hz`),
        h("dt", {}, "Channels"), h("dd", {}, String(c.channels)),
        h("dt", {}, "Bitrate"), h("dd", {}, c.targetBitrate ? `${Math.round(c.targetBitrate / 1000)} kbps` : "not declared")));
    }
  }

  function drawEvents(s: StreamSession): void {
    clear(events);
    const list = h("ol", { class: "timeline", "data-testid": "events" });
    for (const e of s.truncatedEvents ?? []) {
      list.append(h("li", { class: e.type === "IVS Limit Breach" || e.name === "Stream Failure" ? "warn" : "" },
        h("time", {}, fmtTime(e.eventTime)), " ", h("strong", {}, e.name ?? ""), " ",
        h("span", { class: "muted" }, e.type ?? ""), e.code ? h("span", {}, ` (${e.code})`) : null));
    }
    events.append(h("h2", {}, "Events"), list);
  }

  load();
  const timer = window.setInterval(() => { if (live) load(); }, refreshEvery);
  ctx.onLeave(() => clearInterval(timer));
}
