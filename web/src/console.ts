import "./style.css";

import type { IvsClient } from "@aws-sdk/client-ivs";

import { ivsClient, loadCreds, saveCreds, type Creds } from "./api";
import { config, type Config } from "./config";
import { clear, h } from "./dom";
import { channelPage } from "./pages/channel";
import { clusterPage } from "./pages/cluster";
import { channelsPage } from "./pages/channels";
import { sessionPage } from "./pages/session";
import { stageConfigurationsPage, stagePage, stageSessionPage, stagesPage } from "./pages/stages";
import { signInPage } from "./pages/signin";
import { recordingPage } from "./pages/recording";
import { roomPage, roomsPage } from "./pages/rooms";
import { usagePage } from "./pages/usage";

/** What every page gets: the API client and a way to move around. */
export interface Ctx {
  cfg: Config;
  creds: Creds;
  ivs: IvsClient;
  go: (path: string) => void;
  /** Called when the page is left: stop timers, players. */
  onLeave: (fn: () => void) => void;
}

const cfg = config();
const app = document.getElementById("app")!;
let leaving: Array<() => void> = [];

function go(path: string): void {
  history.pushState(null, "", path);
  render();
}

function render(): void {
  for (const fn of leaving) fn();
  leaving = [];
  clear(app);
  const creds = loadCreds();
  if (!creds) {
    app.append(signInPage(cfg, (c) => {
      saveCreds(c);
      render();
    }));
    return;
  }
  const ctx: Ctx = { cfg, creds, ivs: ivsClient(cfg, creds), go, onLeave: (fn) => leaving.push(fn) };
  const main = h("main", { id: "main" });
  app.append(header(ctx), main);
  const path = location.pathname;
  let m: RegExpMatchArray | null;
  if (path === "/" || path === "/channels") {
    channelsPage(ctx, main);
  } else if (path === "/cluster") {
    clusterPage(ctx, main);
  } else if (path === "/usage") {
    usagePage(ctx, main);
  } else if (path === "/recording") {
    recordingPage(ctx, main);
  } else if (path === "/rooms") {
    roomsPage(ctx, main);
  } else if ((m = path.match(/^\/rooms\/([A-Za-z0-9]+)$/))) {
    roomPage(ctx, main, m[1]);
  } else if (path === "/stages") {
    stagesPage(ctx, main);
  } else if (path === "/stages/configurations") {
    stageConfigurationsPage(ctx, main);
  } else if ((m = path.match(/^\/stages\/([A-Za-z0-9]+)\/sessions\/(st-[A-Za-z0-9]+)$/))) {
    stageSessionPage(ctx, main, m[1], m[2]);
  } else if ((m = path.match(/^\/stages\/([A-Za-z0-9]+)$/))) {
    stagePage(ctx, main, m[1]);
  } else if ((m = path.match(/^\/channels\/([A-Za-z0-9]+)\/sessions\/(st-[A-Za-z0-9]+)$/))) {
    sessionPage(ctx, main, m[1], m[2]);
  } else if ((m = path.match(/^\/channels\/([A-Za-z0-9]+)$/))) {
    channelPage(ctx, main, m[1]);
  } else {
    main.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/", "data-link": true }, "Channels")));
  }
}

function header(ctx: Ctx): HTMLElement {
  return h("header", { class: "top" },
    h("a", { href: "/", "data-link": true, class: "brand" }, "onair"),
    h("nav", { "aria-label": "Console" }, navLink("/", "Channels"), navLink("/stages", "Stages"), navLink("/rooms", "Chat"), navLink("/recording", "Recording"), navLink("/usage", "Usage"), navLink("/cluster", "Cluster")),
    h("span", { class: "spacer" }),
    h("span", { class: "muted small" }, `${ctx.cfg.region} · ${ctx.creds.accessKeyId}`),
    h("button", { type: "button", class: "small", onclick: () => {
      saveCreds(null);
      go("/");
    } }, "Sign out"),
  );
}

function navLink(href: string, text: string): HTMLElement {
  const here = href === "/" ? location.pathname === "/" || location.pathname.startsWith("/channels") : location.pathname === href || location.pathname.startsWith(href + "/");
  return h("a", { href, "data-link": true, "aria-current": here ? "page" : undefined }, text);
}

// In-app links (data-link) move with the History API instead of reloading.
document.addEventListener("click", (e) => {
  const a = (e.target as Element).closest?.("a[data-link]") as HTMLAnchorElement | null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  go(a.getAttribute("href")!);
});
window.addEventListener("popstate", render);
render();
