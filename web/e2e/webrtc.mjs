// Browser test of going live from the browser (/broadcast, WHIP) and
// watching over HLS and WHEP (/play/{id}), with playwright-core in Debian's
// Chromium and its fake camera and microphone. test/e2e/browser_test.go
// starts onair, creates a channel and runs this script with:
//   ONAIR_URL, CHANNEL_ID, STREAM_KEY   the server and the channel
//   SHOTS                               where screenshots go
// It exits 0 when every step passed; a failure prints the step and exits 1.
import { chromium } from "playwright-core";
import { begin, grows, log, run, settings, shot } from "./steps.mjs";

const { ONAIR_URL: base, CHANNEL_ID: id, STREAM_KEY: key } = settings("webrtc.mjs", "ONAIR_URL", "CHANNEL_ID", "STREAM_KEY", "SHOTS");

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30", "--autoplay-policy=no-user-gesture-required"],
});
let denied = null;
await run(async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  ctx.on("page", (p) => p.on("pageerror", (e) => log(`page error: ${e.message}`)));

  begin("a wrong stream key is refused with a clear message");
  const bc = await ctx.newPage();
  await bc.goto(`${base}/broadcast`);
  await bc.getByTestId("preview").waitFor();
  await bc.waitForFunction(() => document.querySelector("[data-testid=preview]").videoWidth > 0, null, { timeout: 10000 });
  await bc.fill("#key", "sk_us-east-1_notarealkey");
  await bc.getByTestId("go").click();
  await bc.getByTestId("message").filter({ hasText: "refused" }).waitFor({ timeout: 10000 });
  await bc.getByTestId("state").filter({ hasText: "OFFLINE" }).waitFor();
  await shot(bc, "20-broadcast-wrong-key");

  begin("go live from the browser");
  await bc.fill("#key", key);
  await bc.getByTestId("go").click();
  await bc.getByTestId("state").filter({ hasText: "LIVE" }).waitFor({ timeout: 20000 });
  await bc.getByTestId("stats").filter({ hasText: /[1-9]\d* kbps · \d+×\d+/ }).waitFor({ timeout: 10000 });
  log(`broadcasting: ${await bc.getByTestId("stats").textContent()}`);
  await shot(bc, "21-broadcast-live");

  begin("the settings are remembered");
  const saved = await bc.evaluate(() => JSON.parse(localStorage.getItem("onair.broadcast")));
  if (saved.key !== key || !saved.endpoint.endsWith("/whip")) throw new Error(`saved settings ${JSON.stringify({ ...saved, key: "…" })}`);

  begin("HLS plays the browser's stream");
  const hls = await ctx.newPage();
  await hls.goto(`${base}/play/${id}`);
  await hls.waitForFunction(() => {
    const v = document.querySelector("[data-testid=player]");
    return v.videoWidth > 0 && v.currentTime > 1;
  }, null, { timeout: 30000 });
  const [t0, t1] = await grows("HLS currentTime", () => hls.evaluate(() => document.querySelector("[data-testid=player]").currentTime), 1);
  log(`HLS plays: currentTime ${t0.toFixed(2)} → ${t1.toFixed(2)}`);
  await shot(hls, "22-player-hls-from-browser");

  begin("WHEP plays it in real time");
  const rt = await ctx.newPage();
  await rt.goto(`${base}/play/${id}?mode=realtime`);
  await rt.getByTestId("player-state").filter({ hasText: "Live" }).waitFor({ timeout: 15000 });
  const decoded = () => rt.evaluate(async () => {
    const pc = window.onairRealtime?.();
    if (!pc) return 0;
    let n = 0;
    (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") n = s.framesDecoded ?? 0; });
    return n;
  });
  await rt.waitForFunction(() => document.querySelector("[data-testid=player]").videoWidth > 0, null, { timeout: 15000 });
  const [f0, f1] = await grows("WHEP framesDecoded", decoded, 30);
  await rt.getByTestId("latency").filter({ hasText: "ms behind live" }).waitFor({ timeout: 5000 });
  log(`WHEP plays: framesDecoded ${f0} → ${f1}; ${await rt.getByTestId("latency").textContent()}`);
  await shot(rt, "23-player-realtime");

  begin("Stop streaming ends the stream");
  await bc.getByTestId("go").click();
  await bc.getByTestId("state").filter({ hasText: "OFFLINE" }).waitFor();
  await rt.getByTestId("player-state").filter({ hasText: /waiting|lost/ }).waitFor({ timeout: 15000 });

  begin("a denied camera says so");
  denied = await chromium.launch({ executablePath, args: ["--use-fake-device-for-media-stream"] });
  const dctx = await denied.newContext();
  const dp = await dctx.newPage();
  await dp.goto(`${base}/broadcast`);
  await dp.getByTestId("message").filter({ hasText: "denied" }).waitFor({ timeout: 10000 });
  await shot(dp, "24-broadcast-denied");

  begin("phone width");
  await bc.setViewportSize({ width: 390, height: 844 });
  const overflow = await bc.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error(`the broadcast page is ${overflow}px wider than a phone`);
  await shot(bc, "25-broadcast-phone");
}, async () => {
  await denied?.close();
  await browser.close();
});
