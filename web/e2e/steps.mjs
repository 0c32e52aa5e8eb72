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
