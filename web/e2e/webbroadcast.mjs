// IVS's own browser broadcaster (npm amazon-ivs-web-broadcast 1.41.0,
// unmodified, its UMD file as it ships) goes live against onair in
// Chromium with the fake camera and microphone: the endpoint it is given
// is onair's HTTPS listener (https://127.0.0.1:port), to which it posts its
// offer (/v1/offer). Run by test/e2e TestWebBroadcastSDKInBrowser, which
// starts onair, creates the channels, and checks onair's side (GetStream,
// GetStreamSession, StopStream) while this script waits. With:
//   ONAIR_URL                  the server's HTTP base (the player page)
//   ONAIR_HTTPS                its HTTPS endpoint, typed into the SDK as is
//   TLS_SPKI                   base64 SHA-256 of its self-signed certificate's
//                              public key: the one certificate Chromium trusts
//   BASIC_ID, BASIC_KEY        a BASIC channel and its stream key
//   STANDARD_ID, STANDARD_KEY  a STANDARD channel and its stream key
//   SIGNALS                    a directory: the test writes {run}.stopped
//                              there once it stopped a run's stream
//   SHOTS                      where screenshots go (70–79)
// For each run it prints "BROADCASTING {run}" once startBroadcast resolved
// and "PLAYED {run}" once hls.js played the channel.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { begin, grows, keepPeerConnections, log, run, serveSDKPage, settings, shot } from "./steps.mjs";

const env = settings("webbroadcast.mjs", "ONAIR_URL", "ONAIR_HTTPS", "TLS_SPKI", "BASIC_ID", "BASIC_KEY", "STANDARD_ID", "STANDARD_KEY",
  "SIGNALS", "SHOTS");
const base = env.ONAIR_URL;

// The page a developer builds on the SDK: it loads the UMD file as it
// ships, on an http://127.0.0.1 origin (a secure context for getUserMedia).
const html = `<!doctype html><html><body style="font-family:sans-serif">
<h1>IVS Web Broadcast SDK → onair</h1>
<canvas id="preview" width="640" height="360" style="border:1px solid #888"></canvas>
<p>preset: <b id="preset"></b>, endpoint: <b id="endpoint"></b></p><p>state: <b id="state">idle</b></p><p>error: <b id="error"></b></p>
<script src="/amazon-ivs-web-broadcast.js"></script></body></html>`;
const { origin, server } = await serveSDKPage(html);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30", "--autoplay-policy=no-user-gesture-required",
    // onair's self-signed certificate, and no other, is trusted: what a
    // user's one-time click-through (open https://host:8443/ and accept
    // it) does, which a headless test cannot click. With --tls-cert and
    // --tls-key from a CA the browser trusts, nothing is needed.
    `--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`],
});

// waitSignal waits for the Go test's file that says it is done with a run.
async function waitSignal(name, ms = 60000) {
  const f = join(env.SIGNALS, `${name}.stopped`);
  const deadline = Date.now() + ms;
  while (!existsSync(f)) {
    if (Date.now() > deadline) throw new Error(`the test did not stop ${name} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

await run(async () => {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  // The SDK's telemetry and remote configuration go to AWS hosts; this
  // machine has no DNS for them. Failing them fast changes nothing.
  await ctx.route(/live-video\.net/, (r) => r.abort());
  ctx.on("page", (p) => p.on("pageerror", (e) => log(`page error: ${e.message}`)));

  const page = await ctx.newPage();
  // The page keeps the peer connections the SDK makes, to read the sender's
  // stats (what the answer's b=AS did); the SDK itself is untouched.
  await keepPeerConnections(page);
  page.on("console", (m) => { if (m.type() === "error") log(`console: ${m.text().slice(0, 300)}`); });
  await page.goto(origin);
  await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720 }, audio: true });
    window.media = stream;
    // start makes a client for preset, with its camera and microphone,
    // and starts it; the page shows its state and errors.
    window.start = async (endpoint, key, preset) => {
      const IVS = window.IVSBroadcastClient;
      // One client at a time: each composites its canvas at the preset's
      // frame rate until deleted.
      window.client?.delete();
      document.getElementById("preset").textContent = preset;
      document.getElementById("endpoint").textContent = endpoint;
      document.getElementById("state").textContent = "idle";
      document.getElementById("error").textContent = "";
      const client = IVS.create({ streamConfig: IVS[preset], ingestEndpoint: endpoint });
      window.client = client;
      window.states = [];
      window.errors = [];
      client.on(IVS.BroadcastClientEvents.CONNECTION_STATE_CHANGE, (s) => {
        window.states.push(s);
        document.getElementById("state").textContent = s;
      });
      client.on(IVS.BroadcastClientEvents.ERROR, (e) => window.errors.push({ code: e.code, name: e.name, message: e.message }));
      client.attachPreview(document.getElementById("preview"));
      await client.addVideoInputDevice(new MediaStream(stream.getVideoTracks()), "camera", { index: 0 });
      await client.addAudioInputDevice(new MediaStream(stream.getAudioTracks()), "mic");
      try {
        await client.startBroadcast(key);
        return { ok: true };
      } catch (e) {
        document.getElementById("error").textContent = `${e.code} ${e.name}: ${e.message}`;
        return { ok: false, code: e.code, name: e.name, message: e.message };
      }
    };
  });

  begin("a wrong stream key surfaces as the SDK's InvalidStreamKey (10003)");
  const wrong = await page.evaluate(([e]) => window.start(e, "sk_us-east-1_wrongwrongwrong", "BASIC_LANDSCAPE"), [env.ONAIR_HTTPS]);
  if (wrong.ok || wrong.code !== 10003) throw new Error(`wrong key: ${JSON.stringify(wrong)}`);
  log(`wrong key: ${wrong.code} ${wrong.name}: ${wrong.message}`);
  await shot(page, "70-web-broadcast-sdk-wrong-key");
  await page.evaluate(() => window.client.stopBroadcast());

  // broadcast runs one preset on a channel until the test has stopped it.
  const broadcast = async (name, id, key, preset, kbps, rampTo, waitFailure) => {
    begin(`${name}: startBroadcast with ${preset}`);
    // The endpoint as a user might type it, with a trailing slash: the SDK
    // then posts //v1/offer.
    const r = await page.evaluate(([e, k, p]) => window.start(e, k, p), [`${env.ONAIR_HTTPS}/`, key, preset]);
    if (!r.ok) throw new Error(`startBroadcast: ${JSON.stringify(r)}`);
    console.log(`BROADCASTING ${name}`);
    await page.waitForFunction(() => window.states.includes("connected"), null, { timeout: 20000 });
    log(`${name}: connection states ${await page.evaluate(() => window.states.join(" → "))}`);
    await shot(page, `7${name === "basic" ? 1 : 4}-web-broadcast-sdk-${name}-connected`);

    // The sender's target bit rate, sampled twice a second from now on.
    await page.evaluate(() => {
      window.targets = [];
      clearInterval(window.sampler);
      window.sampler = setInterval(async () => {
        const pc = window.pcs[window.pcs.length - 1];
        (await pc.getStats()).forEach((s) => {
          if (s.type === "outbound-rtp" && s.kind === "video" && s.targetBitrate) window.targets.push(s.targetBitrate);
        });
      }, 500);
    });

    begin(`${name}: the playback URL plays in hls.js (onair's player page), frames advancing`);
    const player = await ctx.newPage();
    await player.goto(`${base}/play/${id}`);
    await player.waitForFunction(() => {
      const v = document.querySelector("[data-testid=player]");
      return v.videoWidth > 0 && v.currentTime > 1;
    }, null, { timeout: 45000 });
    const frames = () => player.evaluate(() => document.querySelector("[data-testid=player]").getVideoPlaybackQuality().totalVideoFrames);
    const [f0, f1] = await grows(`${name}: decoded frames`, frames, 30);
    const size = await player.evaluate(() => { const v = document.querySelector("[data-testid=player]"); return `${v.videoWidth}x${v.videoHeight}`; });
    log(`${name}: hls.js plays ${size}, frames ${f0} → ${f1}`);
    await shot(player, `7${name === "basic" ? 2 : 5}-web-broadcast-sdk-${name}-hls`);
    await player.close();

    if (rampTo) {
      begin(`${name}: the browser's encoder ramps up to the answer's cap (b=AS:${kbps}) and no further`);
      // Without the cap, Chromium's target passes 2 Mbps here within ~12 s.
      await page.waitForFunction((min) => window.targets.some((t) => t >= min), rampTo * kbps * 1000, { timeout: 60000, polling: 500 })
        .catch(async () => { throw new Error(`targetBitrate did not reach ${rampTo * kbps} kbps: ${JSON.stringify(await page.evaluate(() => window.targets))}`); });
      // … and stays there: 3 s more of samples, where an uncapped sender
      // keeps climbing.
      const n = await page.evaluate(() => window.targets.length);
      await page.waitForFunction((n) => window.targets.length >= n + 6, n, { timeout: 30000, polling: 250 });
    }
    const targets = await page.evaluate(() => window.targets);
    const top = Math.max(...targets);
    if (top > kbps * 1000) throw new Error(`the video's targetBitrate reached ${top}, over the cap of ${kbps} kbps: ${JSON.stringify(targets)}`);
    log(`${name}: outbound video targetBitrate ${targets[0]} → max ${top} over ${targets.length} samples (cap ${kbps * 1000})`);
    console.log(`PLAYED ${name}`);

    begin(`${name}: StopStream ends the broadcast`);
    await waitSignal(name);
    if (waitFailure) {
      // The SDK hears of it only from ICE: the peer connection fails
      // after about 16 s, and the client reports error 10001.
      await page.waitForFunction(() => window.states.includes("failed") || window.errors.length > 0, null, { timeout: 60000 });
      log(`${name}: the SDK saw: ${await page.evaluate(() => JSON.stringify({ states: window.states, errors: window.errors }))}`);
      await shot(page, `73-web-broadcast-sdk-${name}-stopped`);
    }
    await page.evaluate(() => { clearInterval(window.sampler); window.client.stopBroadcast(); window.client.delete(); window.client = null; });
  };

  await broadcast("basic", env.BASIC_ID, env.BASIC_KEY, "BASIC_LANDSCAPE", 1500, 0.95, true);
  await broadcast("standard", env.STANDARD_ID, env.STANDARD_KEY, "STANDARD_LANDSCAPE", 8500, 0, false);
}, async () => {
  await browser.close();
  server.close();
});
