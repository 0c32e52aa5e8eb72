// IVS's own Stage client (npm amazon-ivs-web-broadcast 1.41.0, unmodified,
// its UMD file as it ships) joins a stage of onair's in Chromium: two
// pages, each with a participant token from onair's CreateStage /
// CreateParticipantToken (whose events_url the SDK follows as issued: no
// override on the page), see each other join; DisconnectParticipant makes
// one leave with participant-disconnected and the other see it go;
// DeleteStage makes the other leave with stage-deleted. Nothing is
// published or subscribed: onair serves the stage signalling, not the
// stage media yet. Run by test/e2e TestStageSDKInBrowser. With:
//   ONAIR_URL                  the server's HTTP base (the API endpoint)
//   ONAIR_AKID, ONAIR_SECRET   the admin key pair
//   TLS_SPKI                   base64 SHA-256 of its self-signed certificate's
//                              public key: the one certificate Chromium trusts
//   SHOTS                      where screenshots go (80–89)
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";
import {
  IVSRealTimeClient, CreateStageCommand, CreateParticipantTokenCommand, DisconnectParticipantCommand, DeleteStageCommand,
  GetStageCommand, ListParticipantsCommand, ListParticipantEventsCommand,
} from "@aws-sdk/client-ivs-realtime";
import { begin, log, run, settings, shot } from "./steps.mjs";

const env = settings("stage.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "TLS_SPKI", "SHOTS");
const api = new IVSRealTimeClient({
  endpoint: env.ONAIR_URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: env.ONAIR_AKID, secretAccessKey: env.ONAIR_SECRET },
});
const send = (cmd) => api.send(cmd);

// The page a developer builds on the SDK: it loads the UMD file as it
// ships, on an http://127.0.0.1 origin, and shows what the Stage tells it.
const sdk = readFileSync("node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js");
const html = `<!doctype html><html><body style="font-family:sans-serif">
<h1>IVS Stage (amazon-ivs-web-broadcast) → onair</h1>
<p>me: <b id="me"></b>, state: <b id="state">idle</b>, left: <b id="left"></b></p>
<h2>Participants</h2><ul id="roster"></ul><h2>Events</h2><ol id="events"></ol>
<script src="/amazon-ivs-web-broadcast.js"></script></body></html>`;
const server = createServer((req, res) => {
  if (req.url === "/") return res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(html);
  if (req.url === "/amazon-ivs-web-broadcast.js") return res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(sdk);
  res.writeHead(404).end();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // onair's self-signed certificate, and no other, is trusted (see
  // webbroadcast.mjs): the token's events_url is wss:// on its HTTPS port.
  args: [`--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`],
});

// waitFor polls cond (async) until it returns a truthy value.
async function waitFor(what, cond, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// openPage opens a page in its own browser context (as two users would),
// with the SDK's AWS telemetry blocked: this machine has no DNS for it.
async function openPage(name) {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });
  await ctx.route(/live-video\.net/, (r) => r.abort());
  const page = await ctx.newPage();
  page.on("pageerror", (e) => log(`${name}: page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") log(`${name}: console: ${m.text().slice(0, 300)}`); });
  await page.goto(origin);
  await page.evaluate(() => {
    const { Stage, StageEvents, SubscribeType } = window.IVSBroadcastClient;
    window.events = [];
    window.states = [];
    const show = () => {
      document.getElementById("roster").innerHTML = "";
      for (const p of window.roster.values()) {
        const li = document.createElement("li");
        li.textContent = `${p.userId} (${p.id})${p.isLocal ? " — me" : ""} ${JSON.stringify(p.attributes)}`;
        document.getElementById("roster").append(li);
      }
    };
    window.roster = new Map();
    const record = (type, p, extra = {}) => {
      const e = { type, ...extra };
      if (p) Object.assign(e, { id: p.id, userId: p.userId, attributes: { ...p.attributes }, isLocal: p.isLocal });
      window.events.push(e);
      const li = document.createElement("li");
      li.textContent = JSON.stringify(e);
      document.getElementById("events").append(li);
    };
    // join joins with a strategy that neither publishes nor subscribes.
    window.join = async (token) => {
      const strategy = {
        stageStreamsToPublish: () => [],
        shouldPublishParticipant: () => false,
        shouldSubscribeToParticipant: () => SubscribeType.NONE,
      };
      const stage = new Stage(token, strategy);
      window.stage = stage;
      stage.on(StageEvents.STAGE_CONNECTION_STATE_CHANGED, (s) => {
        window.states.push(s);
        document.getElementById("state").textContent = s;
      });
      stage.on(StageEvents.STAGE_PARTICIPANT_JOINED, (p) => {
        if (p.isLocal) document.getElementById("me").textContent = `${p.userId} (${p.id})`;
        window.roster.set(p.id, p);
        show();
        record("joined", p);
      });
      stage.on(StageEvents.STAGE_PARTICIPANT_LEFT, (p) => {
        window.roster.delete(p.id);
        show();
        record("left", p);
      });
      stage.on(StageEvents.STAGE_LEFT, (reason) => {
        document.getElementById("left").textContent = reason;
        record("stageLeft", null, { reason });
      });
      try {
        await stage.join();
        return { ok: true };
      } catch (e) {
        return { ok: false, error: `${e.code ?? ""} ${e.name}: ${e.message}` };
      }
    };
  });
  return page;
}

const events = (page) => page.evaluate(() => window.events);
const has = (page, pred) => async () => (await events(page)).find(pred);

await run(async () => {
  begin("a stage with a token, and a second token");
  const created = await send(new CreateStageCommand({
    name: "sdk-stage",
    participantTokenConfigurations: [{ userId: "alice", attributes: { role: "host" }, capabilities: ["PUBLISH", "SUBSCRIBE"] }],
  }));
  const arn = created.stage.arn;
  const alice = created.participantTokens[0];
  const bob = (await send(new CreateParticipantTokenCommand({
    stageArn: arn, userId: "bob", attributes: { role: "guest" }, capabilities: ["SUBSCRIBE"],
  }))).participantToken;
  const eventsURL = created.stage.endpoints.events;
  for (const t of [alice, bob]) {
    const claims = JSON.parse(Buffer.from(t.token.split(".")[1], "base64url").toString());
    if (claims.events_url !== eventsURL || !eventsURL.startsWith("wss://")) {
      throw new Error(`token events_url ${claims.events_url}, stage endpoints.events ${eventsURL}`);
    }
  }
  log(`stage ${arn}, events ${eventsURL}`);

  begin("two pages join the stage and see each other");
  const pa = await openPage("alice");
  const pb = await openPage("bob");
  for (const [page, t] of [[pa, alice], [pb, bob]]) {
    const r = await page.evaluate((tok) => window.join(tok), t.token);
    if (!r.ok) throw new Error(`${t.userId}: join: ${r.error}`);
  }
  for (const [page, me, other, role] of [[pa, alice, bob, "guest"], [pb, bob, alice, "host"]]) {
    await waitFor(`${me.userId} connected`, () => page.evaluate(() => window.states.includes("connected")));
    await waitFor(`${me.userId} seeing itself`, has(page, (e) => e.type === "joined" && e.isLocal && e.id === me.participantId));
    const seen = await waitFor(`${me.userId} seeing ${other.userId} join`,
      has(page, (e) => e.type === "joined" && !e.isLocal && e.id === other.participantId));
    if (seen.userId !== other.userId || seen.attributes.role !== role) {
      throw new Error(`${me.userId} saw ${JSON.stringify(seen)}`);
    }
    log(`${me.userId}: states ${(await page.evaluate(() => window.states)).join(" → ")}; saw ${JSON.stringify(seen)}`);
  }
  await shot(pa, "80-stage-alice-joined");
  await shot(pb, "81-stage-bob-joined");

  begin("the API shows the session with both CONNECTED");
  const sessionId = await waitFor("an active session", async () => (await send(new GetStageCommand({ arn }))).stage.activeSessionId);
  await waitFor("both CONNECTED", async () => {
    const { participants } = await send(new ListParticipantsCommand({ stageArn: arn, sessionId }));
    return participants.length === 2 && participants.every((p) => p.state === "CONNECTED");
  });

  begin("DisconnectParticipant: bob leaves with participant-disconnected, alice sees him go");
  await send(new DisconnectParticipantCommand({ stageArn: arn, participantId: bob.participantId, reason: "test" }));
  await waitFor("bob's stageLeft", has(pb, (e) => e.type === "stageLeft"));
  const bobLeft = (await events(pb)).find((e) => e.type === "stageLeft");
  if (bobLeft.reason !== "participant-disconnected") throw new Error(`bob left with ${bobLeft.reason}`);
  await waitFor("alice seeing bob leave", has(pa, (e) => e.type === "left" && e.id === bob.participantId));
  const bobEvents = await send(new ListParticipantEventsCommand({ stageArn: arn, sessionId, participantId: bob.participantId }));
  if (bobEvents.events.map((e) => e.name).join() !== "JOINED,LEFT") {
    throw new Error(`bob's events: ${JSON.stringify(bobEvents.events)}`);
  }
  await shot(pb, "82-stage-bob-disconnected");
  await shot(pa, "83-stage-alice-sees-bob-leave");

  begin("DeleteStage: alice leaves with stage-deleted");
  await send(new DeleteStageCommand({ arn }));
  await waitFor("alice's stageLeft", has(pa, (e) => e.type === "stageLeft"));
  const aliceLeft = (await events(pa)).find((e) => e.type === "stageLeft");
  if (aliceLeft.reason !== "stage-deleted") throw new Error(`alice left with ${aliceLeft.reason}`);
  await shot(pa, "84-stage-deleted");
  log(`alice: ${JSON.stringify(await events(pa))}`);
  log(`bob: ${JSON.stringify(await events(pb))}`);
}, async () => {
  await browser.close();
  server.close();
});
