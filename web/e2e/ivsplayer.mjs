// IVS's own web player (npm amazon-ivs-player) plays onair's LOW and
// NORMAL latency channels with audio in Chromium, and raises PutMetadata's
// timed metadata on both as TEXT_METADATA_CUE events: it reads no timed
// metadata from fMP4, so onair serves it a LOW channel's MPEG-TS edition
// (internal/hls/edition.go). hls.js on onair's player page shows the
// NORMAL channel's metadata too, and none of the segment metadata every
// MPEG-TS segment starts with. The player's getLiveLatency(), which it
// makes of that segment metadata (transc_r) and the multivariant
// playlist's SERVER-TIME, is sampled on both channels and judged by its
// quantiles; Chromium's own HLS player (as Safari's, no hls.js) plays both
// channels' playlists with that tag. Run by test/e2e TestIVSPlayerInBrowser,
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
      window.segmentCues = []; // segment metadata, if the player raises it
      window.ivsErrors = [];
      player.addEventListener(IVSPlayer.PlayerEventType.TEXT_METADATA_CUE, (cue) => {
        if (cue.description !== "segmentmetadata" && cue.owner !== "segmentmetadata") {
          window.cues.push(cue.text);
          return;
        }
        // The cue comes when playback reaches the segment's first frame:
        // how long ago onair received it is the latency then (the page
        // and onair share a clock here).
        const r = /"transc_r":(\d+)/.exec(cue.text);
        window.segmentCues.push({ text: cue.text, lag: r ? (Date.now() - Number(r[1])) / 1000 : NaN,
          ahead: cue.startTime - document.getElementById("v").currentTime });
      });
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
        const delay = (Date.now() - t0) / 1000;
        log(`${name}: TEXT_METADATA_CUE ${delay.toFixed(1)} s after the first PutMetadata: ${text}`);
        return delay;
      }
      await page.waitForTimeout(100);
    }
    throw new Error(`no TEXT_METADATA_CUE with the metadata; cues: ${JSON.stringify(await page.evaluate(() => window.cues))}`);
  };

  // latency samples the page's player.getLiveLatency() every 250 ms for
  // 20 s from its first figure (the first segment metadata cue), and judges
  // the samples after the first 5 s (the player catching up to its target)
  // by their quantiles: none is 0 once a cue has come, and the median lies
  // within [lo, hi] seconds.
  const latency = async (page, name, lo, hi) => {
    begin(`the IVS player's getLiveLatency() on the ${name} channel is between ${lo} and ${hi} s`);
    try {
      await page.waitForFunction(() => window.player.getLiveLatency() > 0, null, { timeout: 30000 });
    } catch (err) {
      throw new Error(`getLiveLatency() stayed ${await page.evaluate(() => window.player.getLiveLatency())}: ${err.message}`);
    }
    const all = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 20000) {
      all.push({ at: Date.now() - t0, v: await page.evaluate(() => window.player.getLiveLatency()) });
      await page.waitForTimeout(250);
    }
    const zeros = all.filter((s) => !(s.v > 0)).length;
    const settled = all.filter((s) => s.at >= 5000).map((s) => s.v).sort((a, b) => a - b);
    const q = (p) => settled[Math.min(settled.length - 1, Math.floor(p * settled.length))];
    const [p10, p50, p90] = [q(0.1), q(0.5), q(0.9)];
    log(`${name}: getLiveLatency() over ${settled.length} samples after 5 s: min ${settled[0].toFixed(2)}, p10 ${p10.toFixed(2)}, ` +
      `median ${p50.toFixed(2)}, p90 ${p90.toFixed(2)}, max ${settled[settled.length - 1].toFixed(2)} s; ${zeros} zero of ${all.length}`);
    if (zeros || !(p50 >= lo && p50 <= hi)) {
      throw new Error(`${name}: median ${p50} s (want ${lo}–${hi}), ${zeros} samples of 0: ${JSON.stringify(all.map((s) => s.v))}`);
    }
    return p50;
  };

  // segmentCues checks what the page saw of segment metadata: IVS's player
  // raises each one as a TEXT_METADATA_CUE (description and owner
  // "segmentmetadata"), when playback reaches it; and, as a cross-check
  // of getLiveLatency()'s median (p50), that the latency at those cues
  // (now − transc_r) has a median within a second of it.
  const segmentCues = async (page, name, p50) => {
    const seen = await page.evaluate(() => window.segmentCues);
    const lags = seen.slice(-15).map((c) => c.lag).sort((a, b) => a - b);
    const lag = lags[Math.floor(lags.length / 2)];
    log(`${name}: ${seen.length} segment metadata TEXT_METADATA_CUEs, e.g. ${seen[seen.length - 1]?.text}; now − transc_r at the ` +
      `last ${lags.length}: ${lags[0]?.toFixed(2)}–${lags[lags.length - 1]?.toFixed(2)} s, median ${lag?.toFixed(2)} s`);
    if (seen.length < 5 || !seen.every((c) => /^\{"cmd":"ld_lat_data","transc_r":\d+\}$/.test(c.text) && Math.abs(c.ahead) < 0.5) ||
      !(Math.abs(lag - p50) < 1)) {
      throw new Error(`${name}: segment metadata cues (getLiveLatency() median ${p50} s): ${JSON.stringify(seen.slice(-5))}`);
    }
  };

  const low = await play("LOW latency", lowUrl);
  begin("the IVS player reads the LOW channel in MPEG-TS, and PutMetadata arrives as TEXT_METADATA_CUE");
  const ts = low.requested.filter((u) => /\.ts(\?|$)/.test(new URL(u).pathname + "?")).length;
  if (!ts) throw new Error(`the IVS player fetched no MPEG-TS segment of the LOW channel: ${low.requested.slice(0, 20).join(" ")}`);
  log(`LOW latency: ${ts} MPEG-TS segments fetched`);
  const lowLatency = await latency(low, "LOW latency", 0.5, 5);
  await cue(low, lowArn, "LOW latency");
  await segmentCues(low, "LOW latency", lowLatency);
  await low.screenshot({ path: join(shots, "60-ivs-player.png") });
  await low.close();

  const normal = await play("NORMAL latency", normalUrl);
  begin("PutMetadata on the NORMAL channel arrives as TEXT_METADATA_CUE");
  await cue(normal, normalArn, "NORMAL latency");
  const normalLatency = await latency(normal, "NORMAL latency", 1, 20);
  await segmentCues(normal, "NORMAL latency", normalLatency);
  if (!(normalLatency > lowLatency)) throw new Error(`NORMAL's latency ${normalLatency} s is not above LOW's ${lowLatency} s`);
  await normal.screenshot({ path: join(shots, "61-ivs-player-normal.png") });
  await normal.close();

  // Chromium's own HLS player, as Safari's: the multivariant playlist's
  // SERVER-TIME session data and the segments' ID3 stream do not stop it.
  for (const [name, url] of [["NORMAL", normalUrl], ["LOW", lowUrl]]) {
    begin(`Chromium's own HLS player plays the ${name} channel`);
    const native = await browser.newPage();
    await native.goto(origin);
    await native.evaluate((url) => {
      const v = document.getElementById("v");
      if (!v.canPlayType("application/vnd.apple.mpegurl")) throw new Error("no native HLS in this Chromium");
      v.src = url;
      v.play().catch(() => undefined);
    }, url);
    const time = () => native.evaluate(() => document.getElementById("v").currentTime);
    // What the element says of itself, for a failure's message.
    const state = () => native.evaluate(() => {
      const v = document.getElementById("v");
      const b = v.buffered.length ? `${v.buffered.start(0).toFixed(1)}–${v.buffered.end(v.buffered.length - 1).toFixed(1)}` : "none";
      return `readyState ${v.readyState}, networkState ${v.networkState}, error ${v.error?.code ?? "none"} ${v.error?.message ?? ""}, paused ${v.paused}, buffered ${b}`;
    });
    let n0, n1;
    try {
      [n0, n1] = await grows(`native ${name}: currentTime`, time, 2, 30000);
    } catch (e) {
      // Chromium's own HLS player once stayed at 0 on a loaded machine
      // (the IVS and hls.js players had just played the same stream): a
      // viewer would reload; so does the test, once, saying so.
      log(`native ${name}: ${e.message}; ${await state()}; reloading once`);
      await native.evaluate(() => {
        const v = document.getElementById("v");
        v.load();
        v.play().catch(() => undefined);
      });
      try {
        [n0, n1] = await grows(`native ${name}: currentTime after a reload`, time, 2, 30000);
      } catch (e2) {
        throw new Error(`${e2.message}; ${await state()}`);
      }
    }
    log(`native ${name}: currentTime ${n0.toFixed(2)} → ${n1.toFixed(2)}`);
    if (name === "NORMAL") await native.screenshot({ path: join(shots, "62-native-hls.png") });
    await native.close();
  }

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
  const shown = await page.getByTestId("metadata-item").allTextContents();
  if (shown.some((t) => t.includes("ld_lat_data"))) throw new Error(`the player page shows segment metadata: ${JSON.stringify(shown)}`);
}, async () => {
  await browser?.close();
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});
