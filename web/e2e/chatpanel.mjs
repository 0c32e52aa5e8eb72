// Browser test of chat in the console and on the player page (onair's own
// chat client, web/src/chatclient.ts, in Chromium), driven with
// playwright-core. test/e2e TestChatInBrowser starts onair, creates a
// channel and runs this script with:
//   ONAIR_URL, ONAIR_AKID, ONAIR_SECRET  the server and its admin key pair
//   CHANNEL_ID, CHANNEL_NAME             the channel to link a room to
//   SHOTS                                where screenshots go (50–59)
// A moderator creates a room in the console and links it to the channel;
// two viewers chat on the player page; the moderator deletes a message and
// disconnects a viewer; limits show IVS's errors; unlinking removes the chat.
import { chromium } from "playwright-core";
import { begin, log, run, settings, shot } from "./steps.mjs";

const { ONAIR_URL: base, ONAIR_AKID: akid, ONAIR_SECRET: secret, CHANNEL_ID: channelId, CHANNEL_NAME: channelName } = settings("chatpanel.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "CHANNEL_ID", "CHANNEL_NAME", "SHOTS");

const message = (page, text) => page.getByTestId("chat-message").filter({ hasText: text });

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium" });
await run(async () => {
  // Each person has a context of their own: their own localStorage.
  const newPage = async (who) => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    page.on("dialog", (d) => d.accept());
    page.on("pageerror", (e) => log(`${who}: page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error") log(`${who}: console: ${m.text()}`); });
    return page;
  };
  const mod = await newPage("moderator");

  begin("the player page of a channel without a room has no chat");
  const early = await newPage("early viewer");
  await early.goto(`${base}/play/${channelId}`);
  await early.locator("[data-chat]").waitFor({ timeout: 20000 }); // the page has decided
  if ((await early.locator("[data-chat]").getAttribute("data-chat")) !== "none" || (await early.getByTestId("chat").count())) {
    throw new Error("a chat panel without a room");
  }
  await early.context().close();

  begin("sign in and create a room");
  await mod.goto(base);
  await mod.fill("#akid", akid);
  await mod.fill("#secret", secret);
  await mod.click("button[type=submit]");
  await mod.getByRole("heading", { name: "Channels" }).waitFor();
  await mod.click("header.top nav a >> text=Chat");
  await mod.getByTestId("no-rooms").waitFor();
  await mod.fill("#room-name", "bad name!");
  await mod.click("[data-testid=create-room]");
  await mod.getByTestId("room-error").filter({ hasText: "name must match" }).waitFor({ timeout: 10000 });
  await mod.fill("#room-name", "show-chat");
  await mod.fill("#room-length", "40");
  await mod.click("[data-testid=create-room]");
  await mod.getByRole("heading", { name: "show-chat" }).waitFor({ timeout: 10000 });
  await mod.getByTestId("chat-state").filter({ hasText: "Connected" }).waitFor({ timeout: 10000 });

  begin("link the room to the channel");
  await mod.selectOption("[data-testid=link-channel]", { label: channelName });
  await mod.click("[data-testid=link-channel-submit]");
  await mod.getByTestId("room-channels").filter({ hasText: channelName }).waitFor({ timeout: 10000 });
  await shot(mod, "50-room");

  begin("two viewers join the chat on the player page");
  // A viewer opens the player page, reads, then joins under a name.
  const viewer = async (name) => {
    const page = await newPage(name);
    await page.goto(`${base}/play/${channelId}`);
    await page.getByTestId("chat-state").filter({ hasText: "Connected" }).waitFor({ timeout: 10000 });
    await page.fill("[data-testid=chat-name]", name);
    await page.click("[data-testid=chat-join]");
    await page.getByTestId("chat-input").waitFor();
    await page.getByTestId("chat-state").filter({ hasText: "Connected" }).waitFor({ timeout: 10000 });
    return page;
  };
  const ana = await viewer("Ana");
  const bob = await viewer("Bob");

  begin("messages reach everyone, with names");
  await ana.fill("[data-testid=chat-input]", "hello from ana");
  await ana.press("[data-testid=chat-input]", "Enter");
  for (const p of [ana, bob, mod]) await message(p, "hello from ana").filter({ hasText: "Ana" }).waitFor({ timeout: 10000 });
  if (await ana.$eval("[data-testid=chat-input]", (el) => el.value)) throw new Error("the input was not cleared after sending");
  await mod.fill("[data-testid=chat-input]", "welcome, everyone");
  await mod.click("[data-testid=chat-send]");
  for (const p of [ana, bob]) await message(p, "welcome, everyone").filter({ hasText: "mod" }).waitFor({ timeout: 10000 });
  await bob.fill("[data-testid=chat-input]", "hi ana");
  await bob.press("[data-testid=chat-input]", "Enter");
  await message(ana, "hi ana").waitFor({ timeout: 10000 });
  await shot(ana, "51-player-chat");

  begin("the room's limits answer with IVS's errors");
  await ana.fill("[data-testid=chat-input]", "x".repeat(41));
  await ana.press("[data-testid=chat-input]", "Enter");
  await ana.getByTestId("chat-error").filter({ hasText: "too long" }).waitFor({ timeout: 10000 });
  if (await message(bob, "x".repeat(41)).count()) throw new Error("an over-length message reached bob");

  begin("the moderator deletes a message");
  await message(mod, "hi ana").getByTestId("chat-delete").click();
  await message(ana, "hi ana").waitFor({ state: "detached", timeout: 10000 });
  await message(bob, "hi ana").waitFor({ state: "detached", timeout: 10000 });
  await message(mod, "hi ana").waitFor({ state: "detached", timeout: 10000 });

  begin("the moderator disconnects a viewer");
  await message(mod, "hello from ana").getByTestId("chat-disconnect").click();
  await ana.getByTestId("chat-state").filter({ hasText: "Disconnected" }).waitFor({ timeout: 10000 });
  await ana.getByTestId("chat-notice").filter({ hasText: "Disconnected by the server" }).waitFor();
  await bob.getByTestId("chat-notice").filter({ hasText: "Ana was disconnected by a moderator" }).waitFor({ timeout: 10000 });
  await mod.fill("[data-testid=chat-input]", "after ana left");
  await mod.click("[data-testid=chat-send]");
  await message(bob, "after ana left").waitFor({ timeout: 10000 });
  // Ana's socket closed before the message was sent (her state said so), so
  // it can never reach her: no wait is needed to see that it did not.
  if (await message(ana, "after ana left").count()) throw new Error("a disconnected viewer still got messages");
  await shot(bob, "52-player-moderated");

  begin("a reload keeps the viewer's name and identity");
  await ana.reload();
  await ana.getByTestId("chat-input").waitFor({ timeout: 10000 });
  await ana.getByTestId("chat-state").filter({ hasText: "Connected" }).waitFor({ timeout: 10000 });
  await ana.fill("[data-testid=chat-input]", "ana is back");
  await ana.press("[data-testid=chat-input]", "Enter");
  await message(bob, "ana is back").waitFor({ timeout: 10000 });
  const ids = await bob.$$eval("[data-testid=chat-message]", (els) => els.filter((e) => /Ana/.test(e.textContent)).map((e) => e.dataset.user));
  if (new Set(ids).size !== 1) throw new Error(`ana chatted as ${new Set(ids).size} users: ${ids}`);

  begin("the channel page shows and moderates the linked room");
  await mod.goto(`${base}/channels/${channelId}`);
  await mod.getByTestId("chat").getByTestId("chat-state").filter({ hasText: "Connected" }).waitFor({ timeout: 10000 });
  await bob.fill("[data-testid=chat-input]", "seen from the channel page");
  await bob.press("[data-testid=chat-input]", "Enter");
  await message(mod, "seen from the channel page").waitFor({ timeout: 10000 });
  if ((await mod.$eval("#edit-chat", (el) => el.selectedOptions[0]?.textContent)) !== "show-chat") throw new Error("the channel's settings do not name its room");
  await shot(mod, "53-channel-chat");

  begin("unlink the room from the channel");
  await mod.selectOption("#edit-chat", "");
  await mod.click("text=Save");
  await mod.getByText("Saved.").waitFor({ timeout: 10000 });
  await mod.getByTestId("chat").waitFor({ state: "detached", timeout: 10000 });
  await bob.reload();
  await bob.locator("[data-chat]").waitFor({ timeout: 20000 }); // the page has decided
  if ((await bob.locator("[data-chat]").getAttribute("data-chat")) !== "none" || (await bob.getByTestId("chat").count())) {
    throw new Error("the player page still shows chat for an unlinked channel");
  }
}, async () => {
  await browser.close();
});
