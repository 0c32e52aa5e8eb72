// What the browser test scripts share: their settings from the
// environment, named steps in the log, screenshots, and the ending (PASS,
// or the step that failed and exit code 1).
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

/**
 * The environment variables a script needs, by name; a missing one ends
 * the script with exit code 2.
 */
export function settings(script, ...names) {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    console.error(`${script}: set ${names.join(", ")} (missing: ${missing.join(", ")})`);
    process.exit(2);
  }
  if (process.env.SHOTS) mkdirSync(process.env.SHOTS, { recursive: true });
  return Object.fromEntries(names.map((n) => [n, process.env[n]]));
}

let current = "start";

export const log = (s) => console.log(`[${new Date().toISOString()}] ${s}`);

/** Names the step that runs now: a failure reports it. */
export function begin(s) {
  current = s;
  log(`step: ${s}`);
}

/** A full-page screenshot into $SHOTS. */
export const shot = (page, name) => page.screenshot({ path: join(process.env.SHOTS, `${name}.png`), fullPage: true });

/** Runs the steps, then cleanup whatever happened; logs PASS or the failed step. */
export async function run(steps, cleanup) {
  try {
    await steps();
    log("PASS");
  } catch (err) {
    console.error(`FAIL at step "${current}": ${err.stack ?? err}`);
    process.exitCode = 1;
  } finally {
    await cleanup?.();
  }
}

/**
 * Waits until measure() (a number, usually read from the page) has grown
 * by at least `by` from its first reading, and returns both readings. A
 * fixed sleep followed by a comparison is a timed assertion that fails on
 * a busy 2-core machine where Chromium's encoder, ffmpeg's ladder and the
 * players share the cores; this still fails when playback stalls, with
 * the readings in the message.
 */
export async function grows(what, measure, by, ms = 20000) {
  const first = await measure();
  const deadline = Date.now() + ms;
  let last = first;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    last = await measure();
    if (last >= first + by) return [first, last];
  }
  throw new Error(`${what} went from ${first} to ${last} in ${ms / 1000} s (needed +${by})`);
}

/**
 * Serves html at / and IVS's Web Broadcast SDK's UMD file, as it ships,
 * at /amazon-ivs-web-broadcast.js, on an http://127.0.0.1 origin (a secure
 * context for getUserMedia): the page a developer builds on the SDK.
 * Returns the origin and the server, for its close.
 */
export async function serveSDKPage(html) {
  const sdk = readFileSync("node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js");
  const server = createServer((req, res) => {
    if (req.url === "/") return res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(html);
    if (req.url === "/amazon-ivs-web-broadcast.js") return res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(sdk);
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { origin: `http://127.0.0.1:${server.address().port}`, server };
}

/**
 * Gives page, before its own scripts, window.lumaSpread(video): the spread
 * of luma over a 64x36 canvas of the element's current frame (0: one
 * colour), which tells a decoded picture from a black or frozen-grey one.
 */
// keepPeerConnections has a page keep every peer connection its scripts
// make in window.pcs, to read their stats; the scripts are untouched.
export const keepPeerConnections = (page) => page.addInitScript(() => {
  const Native = window.RTCPeerConnection;
  window.pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.pcs.push(this);
    }
  };
});

export const installLumaSpread = (page) => page.addInitScript(() => {
  window.lumaSpread = (el) => {
    const c = document.createElement("canvas");
    c.width = 64;
    c.height = 36;
    const g = c.getContext("2d", { willReadFrequently: true });
    g.drawImage(el, 0, 0, 64, 36);
    const d = g.getImageData(0, 0, 64, 36).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < d.length; i += 4) {
      const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      lo = Math.min(lo, y);
      hi = Math.max(hi, y);
    }
    return hi - lo;
  };
});

/** Polls cond (async) until it returns a truthy value, which it returns. */
export async function waitFor(what, cond, ms = 45000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
