// IVS's own web player (npm amazon-ivs-player) plays onair's LOW and
// NORMAL latency channels with audio in Chromium, and raises PutMetadata's
// timed metadata on both as TEXT_METADATA_CUE events: it reads no timed
// metadata from fMP4, so onair serves it a LOW channel's MPEG-TS edition
// (internal/hls/edition.go). hls.js on onair's player page shows the
// NORMAL channel's metadata too. Run by test/e2e TestIVSPlayerInBrowser,
// which starts onair and two ffmpeg publishers, with:
//   ONAIR_URL, ONAIR_AKID, ONAIR_SECRET  the server and its admin key pair
//   LOW_URL, LOW_ARN                      a live LOW channel's
//   NORMAL_URL, NORMAL_ARN                a live NORMAL channel's
//   SHOTS                                 where screenshots go (60–69)
// The player is bundled here for the test (vite, IIFE) and served with its
// worker and wasm from a local origin; it is not part of onair's UI.
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IvsClient, PutMetadataCommand } from "@aws-sdk/client-ivs";
import { chromium } from "playwright-core";
import { build } from "vite";
import { begin, grows, log, run, settings } from "./steps.mjs";

const { ONAIR_URL: base, ONAIR_AKID: akid, ONAIR_SECRET: secret, LOW_URL: lowUrl, LOW_ARN: lowArn, NORMAL_URL: normalUrl,
  NORMAL_ARN: normalArn, SHOTS: shots } = settings("ivsplayer.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "LOW_URL", "LOW_ARN",
  "NORMAL_URL", "NORMAL_ARN", "SHOTS");

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

  const ivs = new IvsClient({ region: "us-east-1", endpoint: base, credentials: { accessKeyId: akid, secretAccessKey: secret } });

  // play loads url in a new page's IVS player and checks that it plays,
  // with sound; the page's cues collect its TEXT_METADATA_CUE texts.
  const play = async (name, url) => {
    begin(`the IVS player plays the ${name} channel`);
    const page = await browser.newPage();
    page.on("pageerror", (e) => log(`page error: ${e.message}`));
    page.requested = []; // what the player (in its worker) fetched
    page.on("request", (r) => page.requested.push(r.url()));
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") log(`console: ${m.text()}`); });
    await page.goto(origin);
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
    }, [url, origin]);
    try {
      await page.waitForFunction(() => {
        const v = document.getElementById("v");
        return v.currentTime > 1 && v.videoWidth > 0;
      }, null, { timeout: 30000 });
    } catch (err) {
      const mv = await (await fetch(url)).text();
      log(`multivariant playlist:\n${mv}`);
      const media = mv.split("\n").find((l) => l && !l.startsWith("#"));
      if (media) log(`media playlist:\n${(await (await fetch(new URL(media, url))).text()).slice(0, 1500)}`);
      throw new Error(`not playing: ${JSON.stringify(await page.evaluate(() => ({ state: window.player.getState(), errors: window.ivsErrors })))}: ${err.message}`);
    }
    const [t0, t1] = await grows(`${name}: currentTime`, () => page.evaluate(() => document.getElementById("v").currentTime), 2);
    const st = await page.evaluate(() => ({ state: window.player.getState(),
      errors: window.ivsErrors, codecs: window.player.getQuality?.()?.codecs ?? "" }));
    if (st.state !== "Playing" || st.errors.length) throw new Error(`playback: ${t0} → ${t1}, ${JSON.stringify(st)}`);
    if (!/mp4a/.test(st.codecs)) throw new Error(`the quality's codecs have no audio: ${st.codecs}`);
    log(`${name}: currentTime ${t0.toFixed(2)} → ${t1.toFixed(2)}, codecs ${st.codecs}`);
    return page;
  };

  // cue puts text on a channel and waits for the page's IVS player to
  // raise it, which it does when playback reaches the frame the tag came
  // with: the delay is about the player's latency. Put once a second for
  // 3 s (IVS allows 5 a second): a tag put while the player buffers is in
  // a segment it reads later.
  const cue = async (page, arn, name) => {
    const text = `{"question":"${name}?","at":${Date.now()}}`;
    const t0 = Date.now();
    let puts = 0;
    while (Date.now() - t0 < 30000) {
      if (puts < 3 && Date.now() - t0 >= puts * 1000) {
        await ivs.send(new PutMetadataCommand({ channelArn: arn, metadata: text }));
        puts++;
      }
      if (await page.evaluate((t) => window.cues.includes(t), text)) {
        log(`${name}: TEXT_METADATA_CUE ${((Date.now() - t0) / 1000).toFixed(1)} s after the first PutMetadata: ${text}`);
        return;
      }
      await page.waitForTimeout(100);
    }
    throw new Error(`no TEXT_METADATA_CUE with the metadata; cues: ${JSON.stringify(await page.evaluate(() => window.cues))}`);
  };

  const low = await play("LOW latency", lowUrl);
  begin("the IVS player reads the LOW channel in MPEG-TS, and PutMetadata arrives as TEXT_METADATA_CUE");
  const ts = low.requested.filter((u) => /\.ts(\?|$)/.test(new URL(u).pathname + "?")).length;
  if (!ts) throw new Error(`the IVS player fetched no MPEG-TS segment of the LOW channel: ${low.requested.slice(0, 20).join(" ")}`);
  log(`LOW latency: ${ts} MPEG-TS segments fetched`);
  await cue(low, lowArn, "LOW latency");
  await low.screenshot({ path: join(shots, "60-ivs-player.png") });
  await low.close();

  const normal = await play("NORMAL latency", normalUrl);
  begin("PutMetadata on the NORMAL channel arrives as TEXT_METADATA_CUE");
  await cue(normal, normalArn, "NORMAL latency");

  begin("hls.js on onair's player page reads the NORMAL channel's metadata too");
  const page = await browser.newPage();
  await page.goto(`${base}/play/${normalArn.slice(normalArn.lastIndexOf("/") + 1)}`);
  await page.waitForFunction(() => document.querySelector("[data-testid=player]")?.currentTime > 1, null, { timeout: 30000 });
  const poll = `{"poll":"hls.js in TS","at":${Date.now()}}`;
  for (let i = 0; i < 30; i++) {
    if (i < 3) await ivs.send(new PutMetadataCommand({ channelArn: normalArn, metadata: poll }));
    if (await page.getByTestId("metadata-item").filter({ hasText: poll }).count()) break;
    await page.waitForTimeout(1000);
  }
  await page.getByTestId("metadata-item").filter({ hasText: poll }).waitFor({ timeout: 1000 });
  log("player page: " + poll);
}, async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});
