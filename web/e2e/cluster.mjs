// Browser test of the console's Cluster page, driven with playwright-core
// in Debian's Chromium. test/e2e/cluster_test.go starts a cluster of two
// onair nodes, publishes a channel to n1 and runs this script against n2:
//   ONAIR_URL, ONAIR_AKID, ONAIR_SECRET  node n2 and the admin key pair
//   CHANNEL                              the id of the channel live on n1
//   SHOTS                                where screenshots go
// It exits 0 when every step passed; a failure prints the step and exits 1.
import { chromium } from "playwright-core";
import { begin, run, settings, shot } from "./steps.mjs";

const { ONAIR_URL: base, ONAIR_AKID: akid, ONAIR_SECRET: secret, CHANNEL: channel } = settings("cluster.mjs", "ONAIR_URL",
  "ONAIR_AKID", "ONAIR_SECRET", "CHANNEL", "SHOTS");

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" });
await run(async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });

  begin("sign in on n2");
  await page.goto(base);
  await page.fill("#akid", akid);
  await page.fill("#secret", secret);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Channels" }).waitFor();

  begin("the Cluster page lists both nodes, and n1 publishing the channel");
  await page.click("header.top nav a >> text=Cluster");
  await page.getByRole("heading", { name: "Cluster" }).waitFor();
  await page.getByTestId("cluster-summary").filter({ hasText: "2 of 2 nodes serving" }).waitFor({ timeout: 10000 });
  await page.getByTestId("cluster-summary").filter({ hasText: "served by n2" }).waitFor();
  for (const n of ["n1", "n2"]) await page.getByTestId(`node-${n}-state`).filter({ hasText: "serving" }).waitFor();
  await page.getByTestId("node-n1-publishers").filter({ hasText: "1" }).waitFor({ timeout: 10000 });
  await page.getByTestId("node-n2-publishers").filter({ hasText: "0" }).waitFor();
  await shot(page, "40-cluster");

  begin("the channel's page on n2 shows the stream n1 publishes as live");
  await page.getByTestId("node-n1").getByRole("link", { name: channel }).click();
  await page.getByText("LIVE", { exact: true }).first().waitFor({ timeout: 15000 });
  await shot(page, "41-cluster-channel");
}, () => browser.close());
