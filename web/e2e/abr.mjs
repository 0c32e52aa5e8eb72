// Browser test of an ABR channel on the player page: hls.js plays the
// multivariant, the quality menu lists every level, and choosing the lowest
// switches the picture to it. test/e2e/browser_test.go runs it with:
//   ONAIR_URL, CHANNEL_ID, SHOTS
import { join } from "node:path";
import { chromium } from "playwright-core";
import { begin, log, run, settings } from "./steps.mjs";

const { ONAIR_URL: base, CHANNEL_ID: id, SHOTS: shots } = settings("abr.mjs", "ONAIR_URL", "CHANNEL_ID", "SHOTS");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required"],
});
await run(async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => log(`page error: ${e.message}`));

  begin("the player plays the ladder");
  await page.goto(`${base}/play/${id}`);
  await page.waitForFunction(() => {
    const v = document.querySelector("[data-testid=player]");
    return v.videoWidth > 0 && v.currentTime > 0.5;
  }, null, { timeout: 30000 });

  begin("the quality menu lists every level");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=quality] option").length >= 5, null, { timeout: 15000 });
  const levels = await page.$$eval("[data-testid=quality] option", (os) => os.map((o) => o.textContent));
  log(`levels: ${levels.join(", ")}`);
  for (const want of ["Auto", "720p", "480p", "360p", "160p"]) {
    if (!levels.includes(want)) throw new Error(`no ${want} in ${levels}`);
  }

  begin("choosing 160p switches the picture");
  const value = await page.$eval("[data-testid=quality]", (s) => [...s.options].find((o) => o.textContent === "160p").value);
  await page.selectOption("[data-testid=quality]", value);
  await page.waitForFunction(() => document.querySelector("[data-testid=player]").videoHeight === 160, null, { timeout: 20000 });
  // It plays on at 160p: a second of playback within 10 (a switch may
  // rebuffer for a moment while the new level loads).
  const t0 = await page.$eval("[data-testid=player]", (v) => v.currentTime);
  try {
    await page.waitForFunction((t) => {
      const v = document.querySelector("[data-testid=player]");
      return v.videoHeight === 160 && v.currentTime > t + 1;
    }, t0, { timeout: 10000 });
  } catch {
    const t = await page.$eval("[data-testid=player]", (v) => v.currentTime);
    throw new Error(`160p does not play: currentTime ${t0} → ${t} in 10 s`);
  }
  const t1 = await page.$eval("[data-testid=player]", (v) => v.currentTime);
  log(`160p plays: videoHeight 160, currentTime ${t0.toFixed(2)} → ${t1.toFixed(2)}`);
  await page.screenshot({ path: join(shots, "40-player-abr-160p.png") });
}, async () => {
  await browser.close();
});
