// onair's own stage page (/stages/join, web/src/stage.ts) on a stage of
// onair's in Chromium, media and all, with tokens from the ivsrealtime API
// (the JS SDK): alice and bob open the page with their token, publish their
// fake camera and microphone and each sees the other's video decode (the
// subscribe peer connection's framesDecoded grows, the tile has real
// pixels); carol, SUBSCRIBE only, sees both and publishes nothing; alice's
// Mute mic button shows in bob's and carol's roster; an IVS Web Broadcast
// SDK participant (its UMD as it ships, in a page of its own) and the page
// see each other; DisconnectParticipant removes bob (his page says why, the
// others drop his tile); DeleteStage ends everyone's. Run by test/e2e
// TestStagePageInBrowser. With:
//   ONAIR_URL                  the server's HTTP base (the API endpoint and the page)
//   ONAIR_AKID, ONAIR_SECRET   the admin key pair
//   TLS_SPKI                   base64 SHA-256 of its self-signed certificate's public key
//   SHOTS                      where screenshots go (86–89)
import { chromium } from "playwright-core";
import {
  IVSRealTimeClient, CreateStageCommand, CreateParticipantTokenCommand, DisconnectParticipantCommand, DeleteStageCommand,
} from "@aws-sdk/client-ivs-realtime";
import { begin, installLumaSpread, log, run, serveSDKPage, settings, shot, waitFor } from "./steps.mjs";

const env = settings("stagepage.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "TLS_SPKI", "SHOTS");
const api = new IVSRealTimeClient({
  endpoint: env.ONAIR_URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: env.ONAIR_AKID, secretAccessKey: env.ONAIR_SECRET },
});
const send = (cmd) => api.send(cmd);

// The SDK participant's page: the UMD file as it ships, served from here.
const sdkHTML = `<!doctype html><html><body><h1>IVS Stage SDK</h1><div id="videos"></div>
<script src="/amazon-ivs-web-broadcast.js"></script></body></html>`;
const { origin: sdkOrigin, server } = await serveSDKPage(sdkHTML);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=15", "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    `--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`],
});

// Test hooks, set before any page script: every peer connection is kept
// (to read its stats), and decoded(id) reads a participant's video.
function hooks() {
  const Native = window.RTCPeerConnection;
  window.pcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.pcs.push(this);
    }
  };
  // decoded: frames the receiving peer connection decoded of the video in
  // el, and the spread of luma over a small canvas of it (0: one colour).
  window.decodedOf = async (el) => {
    const track = el?.srcObject?.getVideoTracks()[0];
    if (!track) return { frames: 0, spread: 0 };
    let frames = 0;
    for (const pc of window.pcs) {
      if (pc.connectionState === "closed") continue;
      const r = pc.getReceivers().find((x) => x.track === track);
      if (!r) continue;
      for (const s of (await r.getStats()).values()) {
        if (s.type === "inbound-rtp" && s.kind === "video") frames = Math.max(frames, s.framesDecoded ?? 0);
      }
    }
    const spread = el.videoWidth > 0 ? window.lumaSpread(el) : 0;
    return { frames, spread, width: el.videoWidth, height: el.videoHeight };
  };
  window.decoded = (id) => window.decodedOf(document.querySelector(`[data-testid=tiles] video[data-participant="${id}"]`));
  window.sending = async () => {
    let n = 0;
    for (const pc of window.pcs) {
      for (const s of (await pc.getStats()).values()) {
        if (s.type === "outbound-rtp" && s.kind === "video") n += s.packetsSent ?? 0;
      }
    }
    return n;
  };
}

async function openPage(name, url) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  await ctx.route(/live-video\.net/, (r) => r.abort());
  const page = await ctx.newPage();
  await installLumaSpread(page);
  await page.addInitScript(hooks);
  page.on("pageerror", (e) => log(`${name}: page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") log(`${name}: console: ${m.text().slice(0, 300)}`); });
  await page.goto(url);
  return page;
}

// join opens onair's stage page with the token: in the URL's fragment (the
// console's Join link), its query, or pasted into the form.
async function join(name, t, how) {
  if (how === "fragment") return openPage(name, `${env.ONAIR_URL}/stages/join#token=${encodeURIComponent(t.token)}`);
  if (how === "query") return openPage(name, `${env.ONAIR_URL}/stages/join?token=${encodeURIComponent(t.token)}`);
  const page = await openPage(name, `${env.ONAIR_URL}/stages/join`);
  await page.fill("#token", t.token);
  await page.getByRole("button", { name: "Join" }).click();
  return page;
}
const text = (page, testid) => page.locator(`[data-testid="${testid}"]`).first().textContent({ timeout: 1000 }).catch(() => "");
const count = (page, sel) => page.locator(sel).count();

async function decodes(page, me, other) {
  const first = await waitFor(`${me} decoding ${other.userId}'s video`, async () => {
    const d = await page.evaluate((id) => window.decoded(id), other.participantId);
    return d.frames > 10 && d.spread > 40 && d;
  }, 60000);
  const later = await waitFor(`${me}'s framesDecoded of ${other.userId} growing`, async () => {
    const d = await page.evaluate((id) => window.decoded(id), other.participantId);
    return d.frames >= first.frames + 15 && d;
  });
  log(`${me} decodes ${other.userId}: ${JSON.stringify(first)} then ${JSON.stringify(later)}`);
}

await run(async () => {
  begin("a stage and four tokens (carol SUBSCRIBE only)");
  const arn = (await send(new CreateStageCommand({ name: "page-stage" }))).stage.arn;
  const token = async (userId, capabilities) =>
    (await send(new CreateParticipantTokenCommand({ stageArn: arn, userId, capabilities }))).participantToken;
  const alice = await token("alice", ["PUBLISH", "SUBSCRIBE"]);
  const bob = await token("bob", ["PUBLISH", "SUBSCRIBE"]);
  const carol = await token("carol", ["SUBSCRIBE"]);
  const dave = await token("dave", ["PUBLISH", "SUBSCRIBE"]);

  begin("a bad token is refused in words");
  const bad = await openPage("bad", `${env.ONAIR_URL}/stages/join`);
  await bad.fill("#token", "not-a-token");
  await bad.click('[data-testid="join"]');
  const badText = await waitFor("the bad token's message", () => text(bad, "message"));
  if (!/not a participant token/.test(badText)) throw new Error(`bad token: ${badText}`);
  await bad.context().close();

  begin("alice and bob join with the page, publish, and see each other");
  const pa = await join("alice", alice, "fragment");
  const pb = await join("bob", bob, "query");
  for (const [page, me, other] of [[pa, "alice", "bob"], [pb, "bob", "alice"]]) {
    if (/token=/.test(page.url())) throw new Error(`${me}: the token stayed in the URL`);
    await waitFor(`${me} joined`, async () => (await text(page, "state")) === "JOINED");
    await waitFor(`${me} seeing ${other} publishing`, async () => /^publishing/.test(
      await page.locator(`[data-testid="member-${other}"] [data-testid=flags]`).textContent({ timeout: 1000 }).catch(() => "")));
  }
  await decodes(pa, "alice", bob);
  await decodes(pb, "bob", alice);
  await shot(pa, "86-stagepage-alice-sees-bob");

  begin("carol, SUBSCRIBE only, sees both and publishes nothing");
  const pc = await join("carol", carol, "form");
  await decodes(pc, "carol", alice);
  await decodes(pc, "carol", bob);
  if ((await pc.evaluate(() => window.sending())) !== 0) throw new Error("carol sends video");
  if ((await count(pc, '[data-testid="tile-me"]')) !== 0) throw new Error("carol shows a camera");
  if (!/not publishing/.test(await pa.locator('[data-testid="member-carol"]').textContent())) throw new Error("carol publishing on alice's roster");

  begin("alice mutes her microphone, bob stops his video: the others see it in the roster");
  await pa.click('[data-testid="mute"]');
  for (const [page, me] of [[pb, "bob"], [pc, "carol"]]) {
    await waitFor(`${me} seeing alice muted`, async () => /mic muted/.test(await page.locator('[data-testid="member-alice"]').textContent()));
  }
  await pa.click('[data-testid="mute"]');
  await waitFor("bob seeing alice unmuted", async () => !/mic muted/.test(await pb.locator('[data-testid="member-alice"]').textContent()));
  await pa.click('[data-testid="mute"]');
  await waitFor("carol seeing alice muted again", async () => /mic muted/.test(await pc.locator('[data-testid="member-alice"]').textContent()));
  await pb.click('[data-testid="video"]');
  await waitFor("alice seeing bob's video stopped", async () => /video stopped/.test(await pa.locator('[data-testid="member-bob"]').textContent()));
  await pb.click('[data-testid="video"]');
  await waitFor("alice seeing bob's video back", async () => !/video stopped/.test(await pa.locator('[data-testid="member-bob"]').textContent()));
  await shot(pc, "87-stagepage-carol-sees-both-alice-muted");

  begin("dave, with IVS's own SDK, and the page see each other");
  const pd = await openPage("dave", sdkOrigin);
  const dj = await pd.evaluate(async (tok) => {
    const { Stage, StageEvents, SubscribeType, LocalStageStream } = window.IVSBroadcastClient;
    const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
    const streams = media.getTracks().map((t) => new LocalStageStream(t));
    window.remote = {};
    const stage = new Stage(tok, {
      stageStreamsToPublish: () => streams,
      shouldPublishParticipant: () => true,
      shouldSubscribeToParticipant: () => SubscribeType.AUDIO_VIDEO,
    });
    stage.on(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, (p, added) => {
      if (p.isLocal) return;
      const el = document.getElementById(`v-${p.userId}`) ?? document.createElement("video");
      Object.assign(el, { id: `v-${p.userId}`, autoplay: true, muted: true, playsInline: true, width: 320, height: 180 });
      el.srcObject = new MediaStream(added.map((st) => st.mediaStreamTrack));
      document.getElementById("videos").append(el);
    });
    try {
      await stage.join();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: `${e.code ?? ""} ${e.name}: ${e.message}` };
    }
  }, dave.token);
  if (!dj.ok) throw new Error(`dave: join: ${dj.error}`);
  await decodes(pa, "alice", dave);
  const dv = await waitFor("dave decoding alice's video", async () => {
    const d = await pd.evaluate(() => window.decodedOf(document.getElementById("v-alice")));
    return d.frames > 10 && d.spread > 40 && d;
  }, 60000);
  log(`dave (SDK) decodes alice: ${JSON.stringify(dv)}`);

  begin("DisconnectParticipant: bob's page says why, the others drop his tile, his token is refused");
  await send(new DisconnectParticipantCommand({ stageArn: arn, participantId: bob.participantId, reason: "test" }));
  const why = await waitFor("bob's reason", () => text(pb, "message"));
  if (!/removed from the stage by its owner/.test(why)) throw new Error(`bob: ${why}`);
  if ((await count(pb, "[data-testid=tiles] video")) !== 0) throw new Error("bob's page still shows video");
  for (const [page, me] of [[pa, "alice"], [pc, "carol"]]) {
    await waitFor(`${me} dropping bob`, async () => (await count(page, '[data-testid="member-bob"]')) === 0 &&
      (await count(page, `[data-testid=tiles] video[data-participant="${bob.participantId}"]`)) === 0);
  }
  await shot(pb, "88-stagepage-bob-removed");
  await pb.getByRole("button", { name: "Join" }).click();
  const again = await waitFor("bob's refused rejoin", async () => { const t = await text(pb, "message"); return /^Could not join/.test(t) && t; });
  if (!/removed from the stage by its owner/.test(again)) throw new Error(`bob rejoining: ${again}`);

  begin("DeleteStage: alice's and carol's pages say the stage was deleted, and a rejoin says so");
  await send(new DeleteStageCommand({ arn }));
  for (const [page, me] of [[pa, "alice"], [pc, "carol"]]) {
    const said = await waitFor(`${me}'s reason`, () => text(page, "message"));
    if (!/stage was deleted/.test(said)) throw new Error(`${me}: ${said}`);
    if ((await count(page, "[data-testid=tiles] video")) !== 0) throw new Error(`${me}'s page still shows video`);
  }
  await pc.getByRole("button", { name: "Join" }).click();
  const gone = await waitFor("carol's refused rejoin", async () => { const t = await text(pc, "message"); return /^Could not join/.test(t) && t; });
  if (!/stage was deleted/.test(gone)) throw new Error(`carol rejoining: ${gone}`);
  await shot(pa, "89-stagepage-stage-deleted");
}, async () => {
  await browser.close();
  server.close();
});
