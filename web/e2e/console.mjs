// Browser test of the console and the player page, driven with
// playwright-core in Debian's Chromium. test/e2e/browser_test.go starts the
// real onair binary and runs this script with:
//   ONAIR_URL, ONAIR_AKID, ONAIR_SECRET  the server and its admin key pair
//   SHOTS                                where screenshots go
//   FFMPEG                               the ffmpeg to publish with
//   ONAIR_HTTPS                          its HTTPS endpoint (the Web Broadcast SDK's)
// It exits 0 when every step passed; a failure prints the step and exits 1.
import { spawn } from "node:child_process";
import { GetStreamCommand, IvsClient, ListChannelsCommand, PutMetadataCommand } from "@aws-sdk/client-ivs";
import { chromium } from "playwright-core";
import { begin, grows, log, run, settings, shot } from "./steps.mjs";

const { ONAIR_URL: base, ONAIR_AKID: akid, ONAIR_SECRET: secret, FFMPEG: ffmpeg, ONAIR_HTTPS: https } = settings("console.mjs", "ONAIR_URL",
  "ONAIR_AKID", "ONAIR_SECRET", "SHOTS", "FFMPEG", "ONAIR_HTTPS");

let encoder = null;
function publish(url) {
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "30", "-b:v", "800k",
    "-c:a", "aac", "-b:a", "96k", "-f", "flv", url];
  const p = spawn(ffmpeg, args, { stdio: ["ignore", "inherit", "inherit"] });
  p.exited = new Promise((resolve) => p.on("exit", (code, signal) => resolve({ code, signal })));
  log(`ffmpeg pid ${p.pid}`);
  return p;
}

/** How much a video frame varies: a blank (black, grey) frame is near 0. */
async function frameVariance(page, selector) {
  return page.$eval(selector, (v) => {
    const c = document.createElement("canvas");
    c.width = 160; c.height = 90;
    const g = c.getContext("2d");
    g.drawImage(v, 0, 0, c.width, c.height);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let sum = 0, sq = 0, n = 0;
    for (let i = 0; i < d.length; i += 4) { const y = (d[i] + d[i + 1] + d[i + 2]) / 3; sum += y; sq += y * y; n++; }
    const mean = sum / n;
    return sq / n - mean * mean;
  });
}

async function playing(page, selector, width) {
  await page.waitForFunction(([sel, w]) => {
    const v = document.querySelector(sel);
    return v && v.currentTime > 1 && !v.paused && v.videoWidth === w;
  }, [selector, width], { timeout: 30000 });
  const [t0, t1] = await grows(`${selector}: currentTime`, () => page.$eval(selector, (v) => v.currentTime), 1);
  const variance = await frameVariance(page, selector);
  if (!(variance > 100)) throw new Error(`${selector}: the frame looks blank (luma variance ${variance.toFixed(1)})`);
  log(`${selector} plays: currentTime ${t0.toFixed(2)} → ${t1.toFixed(2)}, luma variance ${variance.toFixed(0)}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required"],
});
await run(async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.on("dialog", (d) => d.accept()); // confirmations (Stop stream)
  page.on("pageerror", (e) => log(`page error: ${e.message}`));

  begin("a wrong secret is refused with a clear error");
  await page.goto(base);
  await page.fill("#akid", akid);
  await page.fill("#secret", "not-the-secret");
  await page.click("button[type=submit]");
  await page.getByTestId("signin-error").filter({ hasText: "wrong" }).waitFor({ timeout: 10000 });
  await shot(page, "01-signin-error");

  begin("sign in");
  await page.fill("#secret", secret);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Channels" }).waitFor();
  await shot(page, "02-channels-empty");

  begin("create a recording configuration");
  await page.click("header.top nav a >> text=Recording");
  await page.getByRole("heading", { name: "Recording", exact: true }).waitFor();
  await page.fill("#rc-bucket", "Bad_Bucket");
  await page.click("text=Create >> nth=-1");
  await page.getByTestId("rc-error").filter({ hasText: "bucketName" }).waitFor();
  await page.fill("#rc-name", "browser-rec");
  await page.fill("#rc-bucket", "browser-rec");
  await page.click("text=Create >> nth=-1");
  await page.locator("[data-testid^=rc-] [data-testid=rc-state]").filter({ hasText: "ACTIVE" }).waitFor({ timeout: 10000 });
  await shot(page, "02b-recording");
  await page.click("header.top nav a >> text=Channels");
  await page.getByRole("heading", { name: "Channels" }).waitFor();

  begin("create a channel with the form");
  await page.fill("#new-name", "bad name!");
  await page.click("text=Create channel >> nth=-1");
  await page.getByTestId("create-error").filter({ hasText: "name" }).waitFor();
  await page.fill("#new-name", "browser-test");
  await page.selectOption("#new-type", "BASIC");
  await page.selectOption("#new-latency", "LOW");
  await page.fill("#new-tags", "team=video");
  await page.check("#new-insecure");
  await page.waitForFunction(() => document.querySelectorAll("#new-recording option").length > 1);
  await page.selectOption("#new-recording", { label: "browser-rec → browser-rec" });
  await page.click("text=Create channel >> nth=-1");
  await page.getByRole("heading", { name: "browser-test" }).waitFor();
  const channelPath = new URL(page.url()).pathname;
  const channelId = channelPath.split("/").pop();
  await page.getByTestId("status").filter({ hasText: "OFFLINE" }).waitFor();
  await page.getByTestId("created").filter({ hasText: /\d/ }).waitFor();
  await shot(page, "03-channel-offline");

  begin("publish to the ingest URL and key shown on the page");
  const ingest = (await page.getByTestId("ingest-rtmp").textContent()).trim();
  await page.getByTestId("stream-key-reveal").click();
  const key = (await page.getByTestId("stream-key").textContent()).trim();
  if (!ingest.startsWith("rtmp://") || !key.startsWith("sk_")) throw new Error(`ingest ${ingest}, key ${key.slice(0, 3)}…`);
  // The endpoint to type into a page built on IVS's Web Broadcast SDK:
  // the server's HTTPS listener.
  const sdkEndpoint = (await page.getByTestId("ingest-web-broadcast").textContent()).trim();
  if (sdkEndpoint !== https) throw new Error(`Web Broadcast SDK endpoint ${sdkEndpoint}, want ${https}`);
  encoder = publish(ingest + key);

  begin("the channel turns LIVE without a reload");
  await page.getByTestId("status").filter({ hasText: "LIVE" }).waitFor({ timeout: 20000 });
  if (new URL(page.url()).pathname !== channelPath) throw new Error("the page navigated");

  begin("the preview plays");
  await playing(page, "[data-testid=preview]", 640);
  await page.getByTestId("health").filter({ hasText: "HEALTHY" }).waitFor({ timeout: 10000 });
  await shot(page, "04-channel-live");

  begin("the player page plays with a latency readout");
  const player = await ctx.newPage();
  await player.goto(`${base}/play/${channelId}`);
  await playing(player, "[data-testid=player]", 640);
  await player.getByTestId("latency").filter({ hasText: "behind live" }).waitFor({ timeout: 10000 });
  await page.getByTestId("viewers").filter({ hasText: /^[1-9]\d* viewers?$/ }).waitFor({ timeout: 15000 });

  begin("timed metadata reaches hls.js as a cue");
  const ivs = new IvsClient({ endpoint: base, region: "us-east-1", credentials: { accessKeyId: akid, secretAccessKey: secret } });
  const arn = (await ivs.send(new ListChannelsCommand({ filterByName: "browser-test" }))).channels[0].arn;
  const poll = `{"poll":"A or B?","at":${Date.now()}}`;
  await ivs.send(new PutMetadataCommand({ channelArn: arn, metadata: poll }));
  await player.getByTestId("metadata-item").filter({ hasText: poll }).waitFor({ timeout: 15000 });
  await shot(player, "05-player");
  await player.close();

  begin("the channels list shows it LIVE, and filters by name");
  // In-app navigation (the sign-in lives in this tab's sessionStorage).
  await page.click("header.top nav a");
  const list = page;
  await list.getByTestId(`row-${channelId}`).getByTestId("row-status").filter({ hasText: "LIVE" }).waitFor({ timeout: 10000 });
  // The row shows the live picture (the server's thumbnail, a real JPEG).
  await list.waitForFunction((id) => {
    const img = document.querySelector(`[data-testid=row-${id}] [data-testid=thumb]`);
    return img && img.complete && img.naturalWidth > 0;
  }, channelId, { timeout: 15000 });
  await shot(list, "06-channels-live");
  await list.getByTestId("filter").fill("no-such-channel");
  await list.getByText("No channel matches.").waitFor();
  await list.getByTestId("filter").fill("browser-test"); // IVS filters on the exact name
  const created = (await list.getByTestId(`row-${channelId}`).locator("td").last().textContent()).trim();
  if (!/\d/.test(created)) throw new Error(`the Created column shows "${created}"`);

  begin("the keyboard alone reaches the channel");
  const rowLink = list.locator(`[data-testid=row-${channelId}] a`);
  await list.goto(base); // focus starts at the top of a fresh page (the sign-in stays in sessionStorage)
  await rowLink.waitFor();
  let tabs = 0;
  while (!(await rowLink.evaluate((a) => a === document.activeElement))) {
    if (++tabs > 20) throw new Error("20 Tabs did not reach the channel's link");
    await list.keyboard.press("Tab");
  }
  await list.keyboard.press("Enter");
  await page.getByTestId("status").filter({ hasText: "LIVE" }).waitFor({ timeout: 10000 });
  log(`${tabs} Tabs and Enter opened the channel`);

  begin("Stop stream cuts the encoder off and the page shows OFFLINE");
  // The session page's charts want some seconds of points: the stream has
  // been live for 8 s by its start time (it usually has been for longer).
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 250))) {
    const { stream } = await ivs.send(new GetStreamCommand({ channelArn: arn }));
    if (Date.now() - stream.startTime.getTime() >= 8000) break;
    if (Date.now() - t0 > 30000) throw new Error(`the stream is not 8 s old 30 s later: started ${stream.startTime.toISOString()}`);
  }
  await page.getByTestId("stop-stream").click();
  const ended = await Promise.race([encoder.exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
  if (!ended) throw new Error("ffmpeg still runs 10 s after Stop stream");
  log(`ffmpeg ended: ${JSON.stringify(ended)}`);
  await page.getByTestId("status").filter({ hasText: "OFFLINE" }).waitFor({ timeout: 10000 });
  await shot(page, "07-channel-stopped");

  begin("the session page draws its charts");
  await page.getByTestId("session-link").first().click();
  await page.getByRole("heading", { name: /Stream session/ }).waitFor();
  for (const c of ["videoBitrate", "framerate", "audioBitrate", "viewers"]) {
    await page.locator(`[data-testid=chart-${c}] canvas`).first().waitFor({ timeout: 10000 });
  }
  await page.getByTestId("events").filter({ hasText: "Session Ended" }).waitFor();
  await page.getByTestId("video-config").filter({ hasText: "640×360" }).waitFor();
  await shot(page, "08-session");

  begin("usage shows the stream's input hours");
  await page.click("header.top nav a >> text=Usage");
  await page.getByRole("heading", { name: "Usage" }).waitFor();
  const usage = page.getByTestId(`usage-${channelId}`);
  await usage.waitFor({ timeout: 10000 });
  const inputHours = Number((await usage.locator("td").nth(1).textContent()).trim());
  if (!(inputHours > 0 && inputHours < 1)) throw new Error(`input hours ${inputHours}`);
  await shot(page, "09-usage");
  await page.goBack();
  await page.getByRole("heading", { name: /Stream session/ }).waitFor();

  begin("dark theme follows the system");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "10-session-dark");
  await page.emulateMedia({ colorScheme: "light" });

  begin("phone width");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + channelPath);
  await page.getByTestId("status").waitFor();
  await page.getByTestId("session-link").first().waitFor(); // the sessions list loads offline too
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error(`the page is ${overflow}px wider than a phone`);
  await shot(page, "11-channel-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  begin("edit, then delete the channel");
  await page.fill("#edit-name", "browser-renamed");
  await page.click("text=Save");
  await page.getByText("Saved.").waitFor();
  await page.getByRole("heading", { name: "browser-renamed" }).waitFor();
  await page.click("text=Delete channel");
  await page.getByText("No channels yet: create one.").waitFor({ timeout: 10000 });
}, async () => {
  if (encoder && encoder.exitCode === null && encoder.signalCode === null) encoder.kill("SIGKILL");
  await browser.close();
});
