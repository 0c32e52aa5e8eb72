// Browser test of the console's Stages pages, driven with playwright-core
// in Debian's Chromium. test/e2e (TestStagesConsoleInBrowser) starts the
// real onair binary and runs this script with:
//   ONAIR_URL, ONAIR_AKID, ONAIR_SECRET  the server and its admin key pair
//   SHOTS                                where screenshots go
//   STAGE_OUT                            a file this script writes the stage's ARN and the
//                                        token the page showed to: the Go test checks the
//                                        token, joins with it over the stage's events
//                                        WebSocket and publishes with it over stage WHIP
//                                        (pion), and this script waits for the participant
//                                        to appear
// It exits 0 when every step passed; a failure prints the step and exits 1.
import { generateKeyPairSync } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import { GetStageCommand, IVSRealTimeClient, ListStagesCommand } from "@aws-sdk/client-ivs-realtime";
import { chromium } from "playwright-core";
import { begin, log, run, settings, shot } from "./steps.mjs";

const { ONAIR_URL: base, ONAIR_AKID: akid, ONAIR_SECRET: secret, STAGE_OUT: out } = settings("stages.mjs", "ONAIR_URL",
  "ONAIR_AKID", "ONAIR_SECRET", "SHOTS", "STAGE_OUT");
const rt = new IVSRealTimeClient({ endpoint: base, region: "us-east-1", credentials: { accessKeyId: akid, secretAccessKey: secret }, maxAttempts: 1 });

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" });
await run(async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); }); // confirmations (Delete)
  page.on("pageerror", (e) => log(`page error: ${e.message}`));

  begin("sign in and open Stages from the nav");
  await page.goto(base);
  await page.fill("#akid", akid);
  await page.fill("#secret", secret);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Channels" }).waitFor();
  await page.click("header.top nav a >> text=Stages");
  await page.getByRole("heading", { name: "Stages", exact: true, level: 1 }).waitFor();
  await page.getByTestId("no-stages").waitFor();
  await page.getByTestId("no-public-keys").waitFor();
  await shot(page, "90-stages-empty");

  begin("bad input is refused with the API's error, naming the field");
  await page.fill("#stage-name", "bad name!");
  await page.getByTestId("create-stage").click();
  await page.getByTestId("stage-create-error").filter({ hasText: /ValidationException: .*name/ }).waitFor();
  await page.fill("#stage-name", "browser-stage");
  await page.fill("#stage-tags", "no-equals-sign");
  await page.getByTestId("create-stage").click();
  await page.getByTestId("stage-create-error").filter({ hasText: "key=value" }).waitFor();

  begin("create a stage with the form");
  await page.fill("#stage-tags", "team=video\nenv=test");
  await page.getByTestId("create-stage").click();
  await page.getByRole("heading", { name: "browser-stage" }).waitFor();
  const stagePath = new URL(page.url()).pathname;
  const stageId = stagePath.split("/").pop();
  await page.getByTestId("stage-status").filter({ hasText: "IDLE" }).waitFor();
  await page.getByTestId("no-participants").waitFor();
  await page.getByTestId("no-sessions").waitFor();
  const arn = (await page.getByTestId("stage-arn").textContent()).trim();
  const events = (await page.getByTestId("endpoint-events").textContent()).trim();
  const whip = (await page.getByTestId("endpoint-whip").textContent()).trim();
  // What the page shows is what the SDK gets.
  const { stage } = await rt.send(new GetStageCommand({ arn }));
  if (!arn.endsWith(`:stage/${stageId}`) || stage.name !== "browser-stage" || stage.tags.team !== "video" || stage.tags.env !== "test") {
    throw new Error(`page ARN ${arn}, id ${stageId}; GetStage ${JSON.stringify(stage)}`);
  }
  if (events !== stage.endpoints.events || whip !== stage.endpoints.whip || !/^wss?:\/\/.+\/stage\/events$/.test(events)) {
    throw new Error(`page endpoints ${events} ${whip}; GetStage ${JSON.stringify(stage.endpoints)}`);
  }
  await page.getByTestId("stage-tags").filter({ hasText: "team=video" }).waitFor();

  begin("a token the API refuses shows its error");
  await page.fill("#token-attributes", `big=${"x".repeat(1100)}`);
  await page.getByTestId("create-token").click();
  await page.getByTestId("token-error").filter({ hasText: /ValidationException: .*attributes/ }).waitFor();
  if (await page.getByTestId("token-result").count()) throw new Error("a refused token left a token shown");

  begin("create a participant token with the form");
  await page.fill("#token-user", "alice");
  await page.fill("#token-attributes", "displayName=Alice\nrole=host");
  await page.uncheck("#token-subscribe");
  await page.fill("#token-duration", "90");
  const before = Date.now();
  await page.getByTestId("create-token").click();
  await page.getByTestId("token-result").waitFor();
  const token = (await page.getByTestId("token").textContent()).trim();
  const participantId = (await page.getByTestId("token-participant").textContent()).trim();
  const caps = (await page.getByTestId("token-capabilities").textContent()).trim();
  const expiry = (await page.getByTestId("token-expiry").textContent()).trim();
  if (token.split(".").length !== 3 || !/^[A-Za-z0-9]{12}$/.test(participantId) || caps !== "PUBLISH" || !/\d/.test(expiry)) {
    throw new Error(`token ${token.slice(0, 20)}…, participant ${participantId}, capabilities ${caps}, expiry ${expiry}`);
  }
  const joinLink = await page.getByTestId("token-join").getAttribute("href");
  if (joinLink !== `/stages/join#token=${encodeURIComponent(token)}`) throw new Error(`the Join link is ${joinLink}`);
  await shot(page, "91-stage-token");

  begin("nobody is on: the stage stays IDLE over refreshes");
  // Two polls later the list is still empty (the page polls every 2 s).
  const polls = await page.evaluate(() => new Promise((resolve) => {
    let n = 0;
    const o = new PerformanceObserver((l) => { n += l.getEntries().filter((e) => e.name.endsWith("/GetStage")).length; if (n >= 2) { o.disconnect(); resolve(n); } });
    o.observe({ type: "resource" });
  }));
  log(`${polls} GetStage polls seen`);
  await page.getByTestId("no-participants").waitFor();
  await page.getByTestId("stage-status").filter({ hasText: "IDLE" }).waitFor();

  begin("the participant the Go test joins with the token appears, publishing");
  writeFileSync(out + ".tmp", JSON.stringify({ stageArn: arn, token, participantId, issuedAfter: Math.floor(before / 1000), events, whip }));
  renameSync(out + ".tmp", out); // the Go test reads a whole file
  const row = page.getByTestId(`participant-${participantId}`);
  await row.waitFor({ timeout: 30000 });
  await row.getByTestId("participant-state").filter({ hasText: "CONNECTED" }).waitFor();
  await row.getByText("PUBLISHING").waitFor({ timeout: 10000 });
  await row.getByText("alice").waitFor();
  await page.getByTestId("stage-status").filter({ hasText: "LIVE" }).waitFor();
  await page.getByTestId("on-count").filter({ hasText: "1 on" }).waitFor();
  await shot(page, "97-stage-on");

  begin("Disconnect asks for a reason, then the participant is gone");
  page.removeAllListeners("dialog");
  let prompted = "";
  page.once("dialog", (d) => { prompted = d.message(); d.dismiss(); }); // Cancel keeps them on
  await row.getByRole("button", { name: "Disconnect alice" }).click();
  for (const t0 = Date.now(); !prompted; await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() - t0 > 10000) throw new Error("Disconnect asked nothing");
  }
  if (!prompted.includes("Disconnect alice?") || !prompted.includes("Reason")) throw new Error(`the prompt said ${JSON.stringify(prompted)}`);
  await row.getByTestId("participant-state").filter({ hasText: "CONNECTED" }).waitFor();
  page.once("dialog", (d) => d.accept("test over"));
  await row.getByRole("button", { name: "Disconnect alice" }).click();
  await page.getByTestId("no-participants").waitFor({ timeout: 10000 });
  await page.getByTestId("stage-status").filter({ hasText: "IDLE" }).waitFor({ timeout: 10000 });
  page.on("dialog", (d) => { dialogs.push(d.message()); d.accept(); });

  begin("the ended session lists the participant's events");
  await page.getByTestId("stage-session-link").first().click();
  await page.getByRole("heading", { name: /Stage session/ }).waitFor();
  const evs = page.getByTestId(`session-participant-${participantId}`).getByTestId("participant-events");
  await evs.waitFor();
  const names = (await evs.locator("li strong").allTextContents()).map((s) => s.trim());
  if (JSON.stringify(names) !== JSON.stringify(["JOINED", "PUBLISH_STARTED", "PUBLISH_STOPPED", "LEFT"])) {
    throw new Error(`events ${JSON.stringify(names)}`);
  }
  await page.getByTestId("session-end").filter({ hasText: /\d/ }).waitFor();
  await shot(page, "98-stage-session");
  await page.click("text=← Stage");
  await page.getByRole("heading", { name: "browser-stage" }).waitFor();

  begin("the list shows the stage");
  await page.click("text=← Stages");
  await page.getByTestId(`stage-row-${stageId}`).getByTestId("stage-row-status").filter({ hasText: "IDLE" }).waitFor();
  await page.getByRole("heading", { name: "Stages", exact: true, level: 1 }).waitFor();
  await shot(page, "92-stages");

  begin("import, list and delete a public key");
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
  await page.fill("#pk-material", "not a key");
  await page.getByTestId("import-public-key").click();
  await page.getByTestId("pk-error").filter({ hasText: "ValidationException" }).waitFor();
  await page.fill("#pk-name", "browser-signer");
  await page.fill("#pk-material", publicKey.export({ type: "spki", format: "pem" }));
  await page.getByTestId("import-public-key").click();
  await page.getByTestId("public-key").filter({ hasText: "browser-signer" }).waitFor();
  await shot(page, "93-public-key");
  await page.getByRole("button", { name: "Delete public key browser-signer" }).click();
  await page.getByTestId("no-public-keys").waitFor();

  begin("encoder and storage configurations: create, refused input, delete");
  await page.getByTestId("stage-configurations-link").click();
  await page.getByRole("heading", { name: "Stage configurations" }).waitFor();
  await page.getByTestId("no-encoder-configurations").waitFor();
  await page.getByTestId("no-storage-configurations").waitFor();
  await page.fill("#enc-name", "browser-720p");
  await page.fill("#enc-width", "1281");
  await page.getByTestId("create-encoder-configuration").click();
  await page.getByTestId("enc-error").filter({ hasText: /ValidationException: .*width/ }).waitFor();
  await page.fill("#enc-width", "1280");
  await page.fill("#enc-bitrate", "1500000");
  await page.getByTestId("create-encoder-configuration").click();
  await page.getByTestId("encoder-configuration").filter({ hasText: "browser-720p" }).filter({ hasText: "1280×720 · 30 fps · 1500 kbps" }).waitFor();
  await page.fill("#sto-name", "browser-rec");
  await page.fill("#sto-bucket", "Bad_Bucket");
  await page.getByTestId("create-storage-configuration").click();
  await page.getByTestId("sto-error").filter({ hasText: "ValidationException" }).waitFor();
  await page.fill("#sto-bucket", "browser-stage-rec");
  await page.getByTestId("create-storage-configuration").click();
  await page.getByTestId("storage-configuration").filter({ hasText: "browser-rec" }).filter({ hasText: "browser-stage-rec" }).waitFor();
  await shot(page, "99-stage-configurations");
  await page.getByRole("button", { name: "Delete encoder configuration browser-720p" }).click();
  await page.getByTestId("no-encoder-configurations").waitFor();
  await page.getByRole("button", { name: "Delete storage configuration browser-rec" }).click();
  await page.getByTestId("no-storage-configurations").waitFor();

  begin("the keyboard alone reaches the stage");
  const link = page.locator(`[data-testid=stage-row-${stageId}] a`);
  await page.goto(base + "/stages");
  await link.waitFor();
  let tabs = 0;
  while (!(await link.evaluate((a) => a === document.activeElement))) {
    if (++tabs > 20) throw new Error("20 Tabs did not reach the stage's link");
    await page.keyboard.press("Tab");
  }
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "browser-stage" }).waitFor();
  log(`${tabs} Tabs and Enter opened the stage`);

  begin("phone width");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.fill("#token-user", "phone");
  await page.getByTestId("create-token").click();
  await page.getByTestId("token-result").waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error(`the page is ${overflow}px wider than a phone`);
  await shot(page, "94-stage-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  begin("dark theme follows the system");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "95-stage-dark");
  await page.emulateMedia({ colorScheme: "light" });

  begin("delete the stage through the page");
  await page.getByTestId("delete-stage").click();
  await page.getByTestId("no-stages").waitFor({ timeout: 10000 });
  if (!dialogs.some((m) => m.includes("Delete stage browser-stage"))) throw new Error(`dialogs: ${JSON.stringify(dialogs)}`);
  const { stages } = await rt.send(new ListStagesCommand({}));
  if (stages.length) throw new Error(`ListStages after delete: ${JSON.stringify(stages)}`);
  await shot(page, "96-stages-deleted");
}, async () => {
  await browser.close();
});
