// IVS's own web player (npm amazon-ivs-player) plays an onair LOW latency
// channel with audio in Chromium. (Its TEXT_METADATA_CUE events come from
// ID3 in MPEG-TS only; onair's LL-HLS is fMP4, where hls.js reads the
// metadata: docs/security.md.) Run by test/e2e TestIVSPlayerInBrowser, which
// starts onair and an ffmpeg publisher, with:
//   PLAYBACK_URL                          the live channel's playback URL
//   SHOTS                                 where screenshots go (60–69)
// The player is bundled here for the test (vite, IIFE) and served with its
// worker and wasm from a local origin; it is not part of onair's UI.
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { build } from "vite";
import { begin, log, run, settings } from "./steps.mjs";

const { PLAYBACK_URL: playbackUrl, SHOTS: shots } = settings("ivsplayer.mjs", "PLAYBACK_URL", "SHOTS");

const dir = mkdtempSync(join(tmpdir(), "ivsplayer-"));
let server = null;
let browser = null;
await run(async () => {
  begin("bundle the IVS player");
  await build({
    configFile: false, logLevel: "warn",
    // The player imports Node's "events"; the browser gets the npm package.
    resolve: { alias: { events: join(process.cwd(), "node_modules/events/events.js") } },
    build: { outDir: dir, emptyOutDir: false, minify: false,
      lib: { entry: "node_modules/amazon-ivs-player/dist/index.js", name: "IVSPlayer", formats: ["iife"], fileName: () => "ivs.js" } },
  });
  const assets = "node_modules/amazon-ivs-player/dist/assets";
  const files = {
    "/": ["text/html", `<!doctype html><html><body><video id="v" muted playsinline style="width:640px"></video>
<script src="/ivs.js"></script></body></html>`],
    "/ivs.js": ["text/javascript", readFileSync(join(dir, "ivs.js"))],
    "/worker.js": ["text/javascript", readFileSync(join(assets, "amazon-ivs-wasmworker.min.js"))],
    "/worker.wasm": ["application/wasm", readFileSync(join(assets, "amazon-ivs-wasmworker.min.wasm"))],
  };
  server = createServer((req, res) => {
    const f = files[req.url];
    if (!f) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": f[0] }).end(f[1]);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;

  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--autoplay-policy=no-user-gesture-required"] });
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") log(`console: ${m.text()}`); });
  await page.goto(origin);

  begin("the IVS player plays the channel");
  await page.evaluate(([url, origin]) => {
    const IVSPlayer = window.IVSPlayer.default ?? window.IVSPlayer;
    if (!IVSPlayer.isPlayerSupported) throw new Error("the IVS player says this browser is not supported");
    const player = IVSPlayer.create({ wasmWorker: `${origin}/worker.js`, wasmBinary: `${origin}/worker.wasm` });
    window.cues = [];
    window.ivsErrors = [];
    player.addEventListener(IVSPlayer.PlayerEventType.TEXT_METADATA_CUE, (cue) => window.cues.push(cue.text));
    player.addEventListener(IVSPlayer.PlayerEventType.ERROR, (e) => window.ivsErrors.push(`${e.type} ${e.code}: ${e.message}`));
    player.attachHTMLVideoElement(document.getElementById("v"));
    player.setAutoplay(true);
    player.load(url);
    window.player = player;
  }, [playbackUrl, origin]);
  try {
    await page.waitForFunction(() => {
      const v = document.getElementById("v");
      return v.currentTime > 1 && v.videoWidth > 0;
    }, null, { timeout: 30000 });
  } catch (err) {
    const mv = await (await fetch(playbackUrl)).text();
    log(`multivariant playlist:\n${mv}`);
    const media = mv.split("\n").find((l) => l && !l.startsWith("#"));
    if (media) log(`media playlist:\n${(await (await fetch(new URL(media, playbackUrl))).text()).slice(0, 1500)}`);
    throw new Error(`not playing: ${JSON.stringify(await page.evaluate(() => ({ state: window.player.getState(), errors: window.ivsErrors })))}: ${err.message}`);
  }
  log(`playing: ${JSON.stringify(await page.evaluate(() => ({ state: window.player.getState(), w: document.getElementById("v").videoWidth,
    latency: window.player.getLiveLatency?.() })))}`);

  begin("it keeps playing, with sound");
  const t0 = await page.evaluate(() => document.getElementById("v").currentTime);
  await page.waitForTimeout(3000);
  const st = await page.evaluate(() => ({ t: document.getElementById("v").currentTime, state: window.player.getState(),
    errors: window.ivsErrors, audio: window.player.getQuality?.()?.codecs ?? "" }));
  if (!(st.t > t0 + 2) || st.state !== "Playing" || st.errors.length) throw new Error(`playback: ${t0} → ${JSON.stringify(st)}`);
  if (!/mp4a/.test(st.audio)) throw new Error(`the quality's codecs have no audio: ${st.audio}`);
  log(`played ${(st.t - t0).toFixed(2)} s in 3 s, codecs ${st.audio}`);
  await page.screenshot({ path: join(shots, "60-ivs-player.png") });
}, async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});
