// IVS's own Stage client (npm amazon-ivs-web-broadcast 1.41.0, unmodified,
// its UMD file as it ships) on a stage of onair's in Chromium, media and
// all: alice and bob, each with a participant token from onair's
// CreateStage / CreateParticipantToken (whose events_url and whip_url the
// SDK follows as issued: no override on the page), publish their fake
// camera and microphone and each sees the other's video decode (the
// subscribe peer connection's framesDecoded grows, the <video> has real
// pixels); carol, whose token may only subscribe, sees both and publishes
// nothing; alice muting her microphone reaches the others as a mute
// change; DisconnectParticipant makes bob leave with
// participant-disconnected and the others see him go; DeleteStage makes
// the rest leave with stage-deleted. Run by test/e2e TestStageSDKInBrowser.
// With:
//   ONAIR_URL                  the server's HTTP base (the API endpoint)
//   ONAIR_AKID, ONAIR_SECRET   the admin key pair
//   TLS_SPKI                   base64 SHA-256 of its self-signed certificate's
//                              public key: the one certificate Chromium trusts
//   SHOTS                      where screenshots go (80–89)
import { chromium } from "playwright-core";
import {
  IVSRealTimeClient, CreateStageCommand, CreateParticipantTokenCommand, DisconnectParticipantCommand, DeleteStageCommand,
  GetStageCommand, ListParticipantsCommand, ListParticipantEventsCommand,
} from "@aws-sdk/client-ivs-realtime";
import { begin, installLumaSpread, keepPeerConnections, log, run, serveSDKPage, settings, shot, waitFor } from "./steps.mjs";

const env = settings("stage.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "TLS_SPKI", "SHOTS");
const api = new IVSRealTimeClient({
  endpoint: env.ONAIR_URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: env.ONAIR_AKID, secretAccessKey: env.ONAIR_SECRET },
});
const send = (cmd) => api.send(cmd);

// The page a developer builds on the SDK: it loads the UMD file as it
// ships, on an http://127.0.0.1 origin, shows what the Stage tells it and
// plays the others' streams.
const html = `<!doctype html><html><body style="font-family:sans-serif">
<h1>IVS Stage (amazon-ivs-web-broadcast) → onair</h1>
<p>me: <b id="me"></b>, state: <b id="state">idle</b>, left: <b id="left"></b></p>
<div id="videos" style="display:flex;gap:8px"></div>
<h2>Participants</h2><ul id="roster"></ul><h2>Events</h2><ol id="events" style="font-size:11px"></ol>
<script src="/amazon-ivs-web-broadcast.js"></script></body></html>`;
const { origin, server } = await serveSDKPage(html);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=15", "--autoplay-policy=no-user-gesture-required",
    // onair listens on loopback in the test: Chromium must pair its
    // candidates with 127.0.0.1 ones, and offer plain IPs, not mDNS names.
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    // onair's self-signed certificate, and no other, is trusted (see
    // webbroadcast.mjs): the token's events_url and whip_url are on its
    // HTTPS port.
    `--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`],
});

// openPage opens a page in its own browser context (as two users would),
// with the SDK's AWS telemetry blocked: this machine has no DNS for it.
async function openPage(name) {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 700 } });
  await ctx.route(/live-video\.net/, (r) => r.abort());
  const page = await ctx.newPage();
  await installLumaSpread(page);
  // The page keeps the peer connections the SDK makes, to read their
  // stats; the SDK itself is untouched.
  await keepPeerConnections(page);
  page.on("pageerror", (e) => log(`${name}: page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") log(`${name}: console: ${m.text().slice(0, 300)}`); });
  await page.goto(origin);
  await page.evaluate(() => {
    const { Stage, StageEvents, SubscribeType, LocalStageStream } = window.IVSBroadcastClient;
    window.events = [];
    window.states = [];
    window.remote = {}; // participant id → its video MediaStreamTrack
    const show = () => {
      document.getElementById("roster").innerHTML = "";
      for (const p of window.roster.values()) {
        const li = document.createElement("li");
        li.textContent = `${p.userId} (${p.id})${p.isLocal ? " — me" : ""} ${JSON.stringify(p.attributes)}` +
          `${p.isPublishing ? " publishing" : ""}${p.audioMuted ? " muted" : ""}`;
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
    // join joins with a strategy that publishes the camera and microphone
    // (if publish) and subscribes to everyone's audio and video.
    window.join = async (token, publish) => {
      let streams = [];
      if (publish) {
        const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
        streams = media.getTracks().map((t) => new LocalStageStream(t));
        window.localStreams = streams;
      }
      const strategy = {
        stageStreamsToPublish: () => streams,
        shouldPublishParticipant: () => publish,
        shouldSubscribeToParticipant: () => SubscribeType.AUDIO_VIDEO,
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
        document.getElementById(`v-${p.id}`)?.remove();
        show();
        record("left", p);
      });
      stage.on(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, (p, state) => record("publishState", p, { state }));
      stage.on(StageEvents.STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED, (p, state) => record("subscribeState", p, { state }));
      stage.on(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, (p, added) => {
        record("streamsAdded", p, { kinds: added.map((st) => st.streamType) });
        if (p.isLocal) return;
        const video = added.find((st) => st.streamType === "video");
        if (!video) return;
        window.remote[p.id] = video.mediaStreamTrack;
        const el = document.getElementById(`v-${p.id}`) ?? document.createElement("video");
        Object.assign(el, { id: `v-${p.id}`, autoplay: true, muted: true, playsInline: true, width: 320, height: 180 });
        el.srcObject = new MediaStream(added.map((st) => st.mediaStreamTrack));
        document.getElementById("videos").append(el);
      });
      stage.on(StageEvents.STAGE_STREAM_MUTE_CHANGED, (p, st) => {
        window.roster.set(p.id, p);
        show();
        record("muteChanged", p, { kind: st.streamType, isMuted: st.isMuted, audioMuted: p.audioMuted });
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
    // decoded says how many frames of a remote participant's video the
    // peer connection receiving it decoded, and how varied a frame of its
    // <video> is (the spread of luma over a small canvas: 0 for a frame of
    // one colour).
    window.decoded = async (id) => {
      const track = window.remote[id];
      if (!track) return { frames: 0, spread: 0 };
      let frames = 0;
      for (const pc of window.pcs) {
        const r = pc.getReceivers().find((x) => x.track === track);
        if (!r) continue;
        for (const s of (await r.getStats()).values()) {
          if (s.type === "inbound-rtp" && s.kind === "video") frames = Math.max(frames, s.framesDecoded ?? 0);
        }
      }
      const el = document.getElementById(`v-${id}`);
      const spread = el && el.videoWidth > 0 ? window.lumaSpread(el) : 0;
      return { frames, spread, width: el?.videoWidth ?? 0, height: el?.videoHeight ?? 0 };
    };
    // sending counts the outbound video packets of the page's publish
    // peer connection(s).
    window.sending = async () => {
      let n = 0;
      for (const pc of window.pcs) {
        for (const s of (await pc.getStats()).values()) {
          if (s.type === "outbound-rtp" && s.kind === "video") n += s.packetsSent ?? 0;
        }
      }
      return n;
    };
  });
  return page;
}

const events = (page) => page.evaluate(() => window.events);
const has = (page, pred) => async () => (await events(page)).find(pred);

await run(async () => {
  begin("a stage with a token, and two more (one SUBSCRIBE only)");
  const created = await send(new CreateStageCommand({
    name: "sdk-stage",
    participantTokenConfigurations: [{ userId: "alice", attributes: { role: "host" }, capabilities: ["PUBLISH", "SUBSCRIBE"] }],
  }));
  const arn = created.stage.arn;
  const alice = created.participantTokens[0];
  const bob = (await send(new CreateParticipantTokenCommand({
    stageArn: arn, userId: "bob", attributes: { role: "guest" }, capabilities: ["PUBLISH", "SUBSCRIBE"],
  }))).participantToken;
  const carol = (await send(new CreateParticipantTokenCommand({
    stageArn: arn, userId: "carol", attributes: { role: "viewer" }, capabilities: ["SUBSCRIBE"],
  }))).participantToken;
  const { events: eventsURL, whip: whipURL } = created.stage.endpoints;
  for (const t of [alice, bob, carol]) {
    const claims = JSON.parse(Buffer.from(t.token.split(".")[1], "base64url").toString());
    if (claims.events_url !== eventsURL || !eventsURL.startsWith("wss://") || claims.whip_url !== whipURL || !whipURL.startsWith("https://")) {
      throw new Error(`token events_url ${claims.events_url} whip_url ${claims.whip_url}, stage endpoints ${eventsURL} ${whipURL}`);
    }
  }
  log(`stage ${arn}, events ${eventsURL}, whip ${whipURL}`);

  begin("alice and bob join and publish their camera and microphone, and see each other");
  const pa = await openPage("alice");
  const pb = await openPage("bob");
  for (const [page, t] of [[pa, alice], [pb, bob]]) {
    const r = await page.evaluate(([tok]) => window.join(tok, true), [t.token]);
    if (!r.ok) throw new Error(`${t.userId}: join: ${r.error}`);
  }
  for (const [page, me, other, role] of [[pa, alice, bob, "guest"], [pb, bob, alice, "host"]]) {
    await waitFor(`${me.userId} connected`, () => page.evaluate(() => window.states.includes("connected")));
    const seen = await waitFor(`${me.userId} seeing ${other.userId} join`,
      has(page, (e) => e.type === "joined" && !e.isLocal && e.id === other.participantId));
    if (seen.userId !== other.userId || seen.attributes.role !== role) {
      throw new Error(`${me.userId} saw ${JSON.stringify(seen)}`);
    }
    await waitFor(`${me.userId} published`, has(page, (e) => e.type === "publishState" && e.isLocal && e.state === "published"));
  }

  begin("each sees the other's video decode");
  const decodes = async (page, me, other) => {
    const first = await waitFor(`${me} decoding ${other.userId}'s video`, async () => {
      const d = await page.evaluate((id) => window.decoded(id), other.participantId);
      return d.frames > 10 && d.spread > 40 && d;
    }, 60000);
    const later = await waitFor(`${me}'s framesDecoded of ${other.userId} growing`, async () => {
      const d = await page.evaluate((id) => window.decoded(id), other.participantId);
      return d.frames >= first.frames + 15 && d;
    });
    log(`${me} decodes ${other.userId}: ${JSON.stringify(first)} then ${JSON.stringify(later)}`);
  };
  await decodes(pa, "alice", bob);
  await decodes(pb, "bob", alice);
  await shot(pa, "80-stage-alice-sees-bob");
  await shot(pb, "81-stage-bob-sees-alice");

  begin("carol, SUBSCRIBE only, sees both and publishes nothing");
  const pc = await openPage("carol");
  const rc = await pc.evaluate(([tok]) => window.join(tok, false), [carol.token]);
  if (!rc.ok) throw new Error(`carol: join: ${rc.error}`);
  await decodes(pc, "carol", alice);
  await decodes(pc, "carol", bob);
  if ((await pc.evaluate(() => window.sending())) !== 0) throw new Error("carol sends video");
  for (const page of [pa, pb]) {
    const got = (await events(page)).filter((e) => e.id === carol.participantId && e.type === "streamsAdded");
    if (got.length) throw new Error(`carol's streams reached a page: ${JSON.stringify(got)}`);
  }
  await shot(pc, "82-stage-carol-sees-both");

  begin("the API shows alice and bob published, carol not, with their events");
  const sessionId = await waitFor("an active session", async () => (await send(new GetStageCommand({ arn }))).stage.activeSessionId);
  await waitFor("the participants' published flags", async () => {
    const { participants } = await send(new ListParticipantsCommand({ stageArn: arn, sessionId }));
    const by = Object.fromEntries(participants.map((p) => [p.participantId, p]));
    return participants.length === 3 && participants.every((p) => p.state === "CONNECTED") &&
      by[alice.participantId].published && by[bob.participantId].published && !by[carol.participantId].published;
  });
  await waitFor("alice's PUBLISH_STARTED and SUBSCRIBE_STARTED", async () => {
    const { events: es } = await send(new ListParticipantEventsCommand({ stageArn: arn, sessionId, participantId: alice.participantId }));
    const names = es.map((e) => e.name);
    return names.includes("PUBLISH_STARTED") && names.includes("SUBSCRIBE_STARTED");
  });

  begin("alice mutes her microphone: bob and carol see it");
  await pa.evaluate(() => window.localStreams.find((s) => s.streamType === "audio").setMuted(true));
  for (const [page, me] of [[pb, "bob"], [pc, "carol"]]) {
    const e = await waitFor(`${me} seeing alice muted`, has(page, (e) => e.type === "muteChanged" && e.id === alice.participantId &&
      e.kind === "audio" && e.isMuted));
    log(`${me}: ${JSON.stringify(e)}`);
  }
  await shot(pb, "83-stage-bob-sees-alice-muted");

  begin("DisconnectParticipant: bob leaves with participant-disconnected, the others see him go");
  await send(new DisconnectParticipantCommand({ stageArn: arn, participantId: bob.participantId, reason: "test" }));
  await waitFor("bob's stageLeft", has(pb, (e) => e.type === "stageLeft"));
  const bobLeft = (await events(pb)).find((e) => e.type === "stageLeft");
  if (bobLeft.reason !== "participant-disconnected") throw new Error(`bob left with ${bobLeft.reason}`);
  for (const [page, me] of [[pa, "alice"], [pc, "carol"]]) {
    await waitFor(`${me} seeing bob leave`, has(page, (e) => e.type === "left" && e.id === bob.participantId));
  }
  const bobEvents = (await send(new ListParticipantEventsCommand({ stageArn: arn, sessionId, participantId: bob.participantId })))
    .events.map((e) => e.name);
  for (const n of ["JOINED", "PUBLISH_STARTED", "SUBSCRIBE_STARTED", "LEFT"]) {
    if (!bobEvents.includes(n)) throw new Error(`bob's events: ${bobEvents}`);
  }
  await shot(pa, "84-stage-alice-sees-bob-leave");

  begin("DeleteStage: alice and carol leave with stage-deleted");
  await send(new DeleteStageCommand({ arn }));
  for (const [page, me] of [[pa, "alice"], [pc, "carol"]]) {
    await waitFor(`${me}'s stageLeft`, has(page, (e) => e.type === "stageLeft"));
    const left = (await events(page)).find((e) => e.type === "stageLeft");
    if (left.reason !== "stage-deleted") throw new Error(`${me} left with ${left.reason}`);
  }
  await shot(pc, "85-stage-deleted");
  for (const [page, me] of [[pa, "alice"], [pb, "bob"], [pc, "carol"]]) {
    log(`${me}: ${JSON.stringify((await events(page)).map((e) => `${e.type}${e.userId ? " " + e.userId : ""}${e.state ? " " + e.state : ""}`))}`);
  }
}, async () => {
  await browser.close();
  server.close();
});
