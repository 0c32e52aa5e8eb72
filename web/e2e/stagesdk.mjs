// IVS's own Stage client (npm amazon-ivs-web-broadcast 1.41.0, unmodified)
// on a stage of onair's in Chromium, for what a stage app uses beyond
// joining: alice publishes her fake camera at 1280x720 with the SDK's
// simulcast (rids hi/mid/low); carol subscribes; dave, a plain WHIP
// subscriber in Chromium (no SDK), asks for the lowest layer and decodes
// the low layer's size; bob
// asks for the highest, sees the layers with their sizes through the
// SDK's own layer API (RemoteStageStream.getLayers, which polls onair's
// WHEP layer Link), decodes the top layer once Chrome's bandwidth
// estimate has ramped up (the time is logged), then the low and the top
// layer again as his strategy prefers them (preferredLayerForStream).
// Carol, AUDIO_ONLY by strategy, has the SDK pause her video over onair's
// playback-controls Link (framesDecoded stops) and resume it on
// AUDIO_VIDEO (it grows again). Then alice's page unloads with her events
// socket left open (see openPage): the SDK's session-delete beacon ends
// her participant at once (the others see her leave). The SDK sends its
// SDP offers over the events socket (onair lists "xdp"). Run by test/e2e
// TestStageSDKFeaturesInBrowser, which then reads the participants' client
// fields with the aws CLI.
// With:
//   ONAIR_URL                  the server's HTTP base (the API endpoint)
//   ONAIR_AKID, ONAIR_SECRET   the admin key pair
//   TLS_SPKI                   base64 SHA-256 of its self-signed certificate's public key
//   SHOTS                      where screenshots go (60–69)
//   STAGE_OUT                  where the stage's ARN, session and participant ids are written
import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";
import {
  IVSRealTimeClient, CreateStageCommand, CreateParticipantTokenCommand, GetStageCommand, GetParticipantCommand,
} from "@aws-sdk/client-ivs-realtime";
import { begin, installLumaSpread, log, run, serveSDKPage, settings, shot, waitFor } from "./steps.mjs";

const env = settings("stagesdk.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "TLS_SPKI", "SHOTS", "STAGE_OUT");
const api = new IVSRealTimeClient({
  endpoint: env.ONAIR_URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: env.ONAIR_AKID, secretAccessKey: env.ONAIR_SECRET },
});
const send = (cmd) => api.send(cmd);

const html = `<!doctype html><html><body style="font-family:sans-serif">
<h1>IVS Stage SDK features → onair</h1>
<p>state: <b id="state">idle</b>, left: <b id="left"></b></p>
<div id="videos" style="display:flex;gap:8px"></div><pre id="layers" style="font-size:11px"></pre>
<script src="/amazon-ivs-web-broadcast.js"></script></body></html>`;
const { origin, server } = await serveSDKPage(html);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream=fps=30", "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    `--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`,
    // The SDK's AWS telemetry fails at once. (Not by page.route, whose
    // interception aborts the beacons of an unloading page.)
    "--host-resolver-rules=MAP *.live-video.net ~NOTFOUND"],
});

// openPage opens a page in its own browser context and returns where the SDK runs:
// the page, or (framed) an iframe of it whose events WebSocket belongs to
// the page around it and ignores close(), so that it outlives the
// iframe's unloading as a socket whose close is lost on the way would:
// then only the SDK's session-delete beacon tells onair the participant
// is gone.
// sdpOffers counts the SDK's SDP offers sent over its events sockets
// (onair lists "xdp" in serverFeatures).
let sdpOffers = 0;

async function openPage(name, framed = false) {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await ctx.newPage();
  await installLumaSpread(page);
  // The page keeps the peer connections the SDK makes, to read their
  // stats; the SDK itself is untouched.
  await page.addInitScript((framedSDK) => {
    const Native = window.RTCPeerConnection;
    window.pcs = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.pcs.push(this);
      }
    };
    if (framedSDK && window !== window.top) {
      // The socket is the outer page's, and its close() is lost.
      const Parent = window.parent.WebSocket;
      window.WebSocket = function WebSocket(url, protocols) {
        const ws = new Parent(url, protocols);
        return new Proxy(ws, {
          get(t, k) {
            if (k === "close") return () => {};
            const v = Reflect.get(t, k);
            return typeof v === "function" ? v.bind(t) : v;
          },
          set: (t, k, v) => Reflect.set(t, k, v),
        });
      };
      Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
    }
  }, framed);
  page.on("pageerror", (e) => log(`${name}: page error: ${e.message}`));
  page.on("websocket", (ws) => ws.on("framesent", (f) => { if (String(f.payload).includes("aws:ivs:SDP_OFFER")) sdpOffers++; }));
  // (Blocked telemetry requests are errors too: not logged.)
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("ERR_FAILED")) log(`${name}: console: ${m.text().slice(0, 300)}`);
  });
  await page.goto(origin);
  let target = page;
  if (framed) {
    await page.evaluate(() => new Promise((resolve) => {
      const f = Object.assign(document.createElement("iframe"), { src: "/", allow: "camera; microphone", width: 900, height: 500 });
      f.onload = resolve;
      document.body.append(f);
    }));
    target = page.frames().find((f) => f !== page.mainFrame());
  }
  await target.evaluate(() => {
    const { Stage, StageEvents, SubscribeType, LocalStageStream, RemoteStageStreamEvents } = window.IVSBroadcastClient;
    window.events = [];
    window.remote = {}; // participant id → its video RemoteStageStream
    window.layerLog = []; // [ms since join, layers] as LAYERS_CHANGED reports them
    window.preferred = null; // the layer label preferredLayerForStream answers; null: the server's choice
    window.subscribeType = SubscribeType.AUDIO_VIDEO;
    const record = (type, p, extra = {}) => window.events.push({ type, ...extra, ...(p ? { id: p.id, isLocal: p.isLocal } : {}) });
    // join joins; publish: the camera at 1280x720 with simulcast on;
    // initial: the subscribe configuration's initialLayerPreference.
    window.join = async (token, publish, initial, preferring) => {
      let streams = [];
      if (publish) {
        const media = await navigator.mediaDevices.getUserMedia({
          video: { width: { exact: 1280 }, height: { exact: 720 }, frameRate: 30 }, audio: true,
        });
        streams = [new LocalStageStream(media.getVideoTracks()[0], { simulcast: { enabled: true } }),
          new LocalStageStream(media.getAudioTracks()[0])];
      }
      const strategy = {
        stageStreamsToPublish: () => streams,
        shouldPublishParticipant: () => publish,
        shouldSubscribeToParticipant: () => window.subscribeType,
        subscribeConfiguration: () => ({ simulcast: { initialLayerPreference: initial } }),
      };
      // (A strategy with preferredLayerForStream has the SDK set the
      // layer: null is the server's adaptive choice, the highest the
      // link carries, whatever the initial preference was.)
      if (preferring) strategy.preferredLayerForStream = () => window.preferred;
      const stage = new Stage(token, strategy);
      window.stage = stage;
      const t0 = performance.now();
      stage.on(StageEvents.STAGE_CONNECTION_STATE_CHANGED, (s) => { document.getElementById("state").textContent = s; });
      stage.on(StageEvents.STAGE_PARTICIPANT_JOINED, (p) => record("joined", p));
      stage.on(StageEvents.STAGE_PARTICIPANT_LEFT, (p) => record("left", p));
      stage.on(StageEvents.STAGE_PARTICIPANT_PUBLISH_STATE_CHANGED, (p, state) => record("publishState", p, { state }));
      stage.on(StageEvents.STAGE_PARTICIPANT_SUBSCRIBE_STATE_CHANGED, (p, state) => record("subscribeState", p, { state }));
      stage.on(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, (p, added) => {
        record("streamsAdded", p, { kinds: added.map((st) => st.streamType) });
        if (p.isLocal) return;
        const video = added.find((st) => st.streamType === "video");
        if (!video) return;
        window.remote[p.id] = video;
        // Only a page that chooses layers listens to them: the SDK's layer
        // machinery, once on, asks for the server's adaptive choice
        // (POST {} to the layer Link) when the strategy prefers none,
        // which is the top layer the link carries, not the initial one.
        if (preferring) {
          video.on(RemoteStageStreamEvents.LAYERS_CHANGED, (layers) => {
            window.layerLog.push([Math.round(performance.now() - t0), layers.map((l) => ({ ...l }))]);
            document.getElementById("layers").textContent = JSON.stringify(layers, null, 1);
          });
        }
        const el = document.getElementById(`v-${p.id}`) ?? document.createElement("video");
        Object.assign(el, { id: `v-${p.id}`, autoplay: true, muted: true, playsInline: true, width: 320, height: 180 });
        el.srcObject = new MediaStream(added.map((st) => st.mediaStreamTrack));
        document.getElementById("videos").append(el);
      });
      stage.on(StageEvents.STAGE_LEFT, (reason) => record("stageLeft", null, { reason }));
      try {
        await stage.join();
        return { ok: true };
      } catch (e) {
        return { ok: false, error: `${e.code ?? ""} ${e.name}: ${e.message}` };
      }
    };
    // decoded: frames decoded of a remote participant's video, the
    // decoded size (the receiver's stats, the <video> element's) and the
    // luma spread of a frame (0: one colour).
    window.decoded = async (id) => {
      const stream = window.remote[id];
      if (!stream) return { frames: 0, spread: 0, width: 0, height: 0 };
      let frames = 0, fw = 0, fh = 0;
      for (const pc of window.pcs) {
        const r = pc.getReceivers().find((x) => x.track === stream.mediaStreamTrack);
        if (!r) continue;
        for (const s of (await r.getStats()).values()) {
          if (s.type === "inbound-rtp" && s.kind === "video") {
            frames = Math.max(frames, s.framesDecoded ?? 0);
            fw = s.frameWidth ?? fw;
            fh = s.frameHeight ?? fh;
          }
        }
      }
      const el = document.getElementById(`v-${id}`);
      const spread = el && el.videoWidth > 0 ? window.lumaSpread(el) : 0;
      return { frames, spread, width: el?.videoWidth ?? 0, height: el?.videoHeight ?? 0, frameWidth: fw, frameHeight: fh };
    };
    // rawLowest subscribes to a publisher as a plain WHIP client would,
    // without the SDK (whose layer machinery asks for the server's
    // adaptive choice right after a subscribe): the events socket with the
    // token, then a WHIP POST with X-Stages-Initial-Layer-Pref: lowest.
    window.rawLowest = async (token, eventsURL, whipURL, topic, publisher) => {
      const ws = new WebSocket(`${eventsURL}?error_over_ws=1&topic=${topic}/publishers`, token);
      await new Promise((resolve, reject) => { ws.onmessage = resolve; ws.onerror = reject; });
      window.rawWS = ws;
      const pc = new RTCPeerConnection();
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") resolve();
        pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && resolve();
      });
      const res = await fetch(`${whipURL}/subscribe/${publisher}`, { method: "POST", body: pc.localDescription.sdp,
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/sdp", "X-Stages-Initial-Layer-Pref": "lowest" } });
      if (res.status !== 201) throw new Error(`WHIP subscribe: ${res.status} ${await res.text()}`);
      await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
      window.rawPC = pc;
    };
    window.rawDecoded = async () => {
      for (const s of (await window.rawPC.getStats()).values()) {
        if (s.type === "inbound-rtp" && s.kind === "video") return { frames: s.framesDecoded ?? 0, w: s.frameWidth, h: s.frameHeight };
      }
      return { frames: 0 };
    };
    window.layers = (id) => (window.remote[id]?.getLayers() ?? []).map((l) => ({ ...l }));
    // sent: the publish peer connection's outbound video encodings (rid,
    // size, whether active).
    window.sent = async () => {
      const out = [];
      for (const pc of window.pcs) {
        for (const s of (await pc.getStats()).values()) {
          if (s.type === "outbound-rtp" && s.kind === "video") {
            out.push({ rid: s.rid, w: s.frameWidth, h: s.frameHeight, active: s.active, frames: s.framesSent, limit: s.qualityLimitationReason });
          }
        }
      }
      return out;
    };
  });
  return target;
}

// until waits for ok(read()) and returns the reading; a timeout says the
// last one.
async function until(what, read, ok, ms) {
  let last;
  try {
    return await waitFor(what, async () => {
      last = await read();
      return ok(last) && last;
    }, ms);
  } catch (e) {
    throw new Error(`${e.message}; last: ${JSON.stringify(last)}`);
  }
}

const events = (page) => page.evaluate(() => window.events);
const has = (page, pred) => async () => (await events(page)).find(pred);
const decodedOf = (page, id) => page.evaluate((i) => window.decoded(i), id);

await run(async () => {
  begin("a stage with alice (publishes), bob and carol (subscribe)");
  const created = await send(new CreateStageCommand({
    name: "sdk-features",
    participantTokenConfigurations: [{ userId: "alice", capabilities: ["PUBLISH", "SUBSCRIBE"] }],
  }));
  const arn = created.stage.arn;
  const alice = created.participantTokens[0];
  const token = async (userId) => (await send(new CreateParticipantTokenCommand({
    stageArn: arn, userId, capabilities: ["SUBSCRIBE"],
  }))).participantToken;
  const bob = await token("bob");
  const carol = await token("carol");
  const dave = await token("dave");

  begin("alice publishes 1280x720 with simulcast; bob (highest first, preferring layers) and carol (lowest first) subscribe");
  const pa = await openPage("alice", true);
  const pb = await openPage("bob");
  const pc = await openPage("carol");
  const joinedAt = Date.now();
  for (const [page, t, pub, initial, preferring] of [[pa, alice, true, "lowest_quality", false],
    [pb, bob, false, "highest_quality", true], [pc, carol, false, "lowest_quality", false]]) {
    const r = await page.evaluate(([tok, p, i, pr]) => window.join(tok, p, i, pr), [t.token, pub, initial, preferring]);
    if (!r.ok) throw new Error(`${t.userId}: join: ${r.error}`);
  }
  await waitFor("alice published", has(pa, (e) => e.type === "publishState" && e.isLocal && e.state === "published"), 60000);
  const sent = await waitFor("alice's three encodings", async () => {
    const s = await pa.evaluate(() => window.sent());
    return s.length === 3 && s;
  });
  if (JSON.stringify(sent.map((s) => s.rid).sort()) !== JSON.stringify(["hi", "low", "mid"])) {
    throw new Error(`alice sends ${JSON.stringify(sent)}`);
  }

  begin("carol decodes alice's video");
  const first = await until("carol decoding alice",
    async () => ({ ...await decodedOf(pc, alice.participantId), sent: await pa.evaluate(() => window.sent()) }),
    (d) => d.frames > 10 && d.spread > 40, 60000);
  delete first.sent;
  log(`carol decodes ${JSON.stringify(first)} after ${Date.now() - joinedAt} ms`);

  begin("dave, a plain WHIP subscriber in Chromium asking for the lowest layer, decodes 320x180 first");
  // (As IVS's "lowest quality first": the first frames come from the low
  // layer, then onair moves dave up as his bandwidth estimate (Chrome's
  // REMB) allows. The SDK's own subscribers ask for the automatic choice
  // right after subscribing, which keeps that cap.)
  const pd = await openPage("dave");
  const claims = JSON.parse(Buffer.from(dave.token.split(".")[1], "base64url").toString());
  await pd.evaluate((a) => window.rawLowest(...a), [dave.token, claims.events_url, claims.whip_url, claims.topic, alice.participantId]);
  const rawDecoded = () => pd.evaluate(() => window.rawDecoded());
  const low = await until("dave's first frames", rawDecoded, (d) => d.frames > 0 && d.w > 0, 60000);
  if (low.w !== 320 || low.h !== 180) throw new Error(`dave's first frames are ${low.w}x${low.h}`);
  const adaptStart = Date.now();
  const later = await until("dave's frames growing", rawDecoded, (d) => d.frames > low.frames + 60, 30000);
  // Whether and when his estimate lets him up depends on Chrome's REMB on
  // this machine: logged, not required (internal/sfu's
  // TestLowestFirstThenAdapts checks the rise with a REMB it controls).
  log(`dave decodes ${JSON.stringify(low)} first, then ${JSON.stringify(later)} ${Date.now() - adaptStart} ms later`);

  begin("the layers arrive with their sizes, through the SDK's layer API (onair's WHEP layer Link)");
  const sizes = {};
  const ramp = {};
  await waitFor("three layers with sizes, as Chrome ramps up", async () => {
    const ls = await pb.evaluate((id) => window.layers(id), alice.participantId);
    for (const l of ls) {
      if (l.width > 0 && !ramp[l.label]) {
        ramp[l.label] = Date.now() - joinedAt;
        sizes[l.label] = `${l.width}x${l.height}`;
        log(`layer ${l.label} ${sizes[l.label]} ${l.bitrateBps} bit/s ${l.framesPerSecond} fps after ${ramp[l.label]} ms`);
      }
    }
    return Object.keys(ramp).length >= 3;
  }, 120000);
  log(`all three layers listed ${Math.max(...Object.values(ramp))} ms after join (${JSON.stringify(ramp)})`);
  if (sizes.hi !== "1280x720" || sizes.mid !== "640x360" || sizes.low !== "320x180") throw new Error(`layer sizes ${JSON.stringify(sizes)}`);
  const layerLog = await pb.evaluate(() => window.layerLog);
  if (!layerLog.length) throw new Error("no LAYERS_CHANGED event on bob's stream");
  // Bitrate and frame rate are measured over a second of each layer.
  const measured = await waitFor("every layer's bitrate and frame rate", async () => {
    const ls = await pb.evaluate((id) => window.layers(id), alice.participantId);
    return ls.length === 3 && ls.every((l) => l.bitrateBps > 10000 && l.bitrateBps < 10e6 && l.framesPerSecond > 0) && ls;
  }, 30000);
  log(`layers: ${JSON.stringify(measured)}`);

  begin("bob (highest first) decodes the top layer");
  const top = await until("bob decoding 1280x720", () => decodedOf(pb, alice.participantId),
    (d) => d.frameWidth === 1280 && d.spread > 40, 60000);
  // The ramp: Chrome sends its top layer steadily once its bandwidth
  // estimate (fed by onair's TWCC feedback) allows; only then is it
  // forwarded.
  log(`bob decodes ${JSON.stringify(top)}: the ramp to the top layer took ${Date.now() - joinedAt} ms after join`);

  begin("bob prefers the lowest layer, then the highest: the decoded size follows");
  for (const [label, width] of [["low", 320], ["hi", 1280]]) {
    const t = Date.now();
    await pb.evaluate((l) => { window.preferred = l; window.stage.refreshStrategy(); }, label);
    const d = await until(`bob decoding ${label} (${width} wide)`, () => decodedOf(pb, alice.participantId),
      (x) => x.frameWidth === width, 30000);
    const selected = (await pb.evaluate((id) => window.remote[id].getSelectedLayer(), alice.participantId))?.label;
    log(`bob on ${label} after ${Date.now() - t} ms: ${JSON.stringify(d)}, selected ${selected}`);
    await shot(pb, `60-sdk-bob-${label}`);
  }

  begin("carol AUDIO_ONLY: the SDK pauses her video (playback controls), AUDIO_VIDEO resumes it");
  const frames = async () => (await decodedOf(pc, alice.participantId)).frames;
  await pc.evaluate(() => { window.subscribeType = window.IVSBroadcastClient.SubscribeType.AUDIO_ONLY; window.stage.refreshStrategy(); });
  // Paused: framesDecoded holds still for 2 s running.
  let last = await frames(), since = Date.now();
  await waitFor("carol's video paused", async () => {
    const n = await frames();
    if (n !== last) [last, since] = [n, Date.now()];
    return Date.now() - since > 2000;
  }, 30000);
  const paused = last;
  await pc.evaluate(() => { window.subscribeType = window.IVSBroadcastClient.SubscribeType.AUDIO_VIDEO; window.stage.refreshStrategy(); });
  const resumed = await waitFor("carol's video resumed", async () => (await frames()) >= paused + 30 && (await decodedOf(pc, alice.participantId)));
  log(`carol paused at ${paused} frames, resumed to ${JSON.stringify(resumed)}`);
  if (resumed.spread <= 40) throw new Error(`carol's resumed video has no picture: ${JSON.stringify(resumed)}`);
  await shot(pc, "61-sdk-carol-resumed");

  // Alice's publish, bob's and carol's subscriptions: SDP over the socket.
  if (sdpOffers < 3) throw new Error(`${sdpOffers} SDP offers over the events sockets, want 3`);
  log(`${sdpOffers} SDP offers went over the events sockets`);
  const sessionId = (await send(new GetStageCommand({ arn }))).stage.activeSessionId;
  writeFileSync(env.STAGE_OUT, JSON.stringify({ stageArn: arn, sessionId, alice: alice.participantId, bob: bob.participantId,
    carol: carol.participantId }));

  begin("alice's page unloads: her session-delete beacon ends her participant at once");
  // The beacon is all that tells onair: her events WebSocket, the outer
  // page's (see openPage), stays open.
  const t = Date.now();
  await pa.page().evaluate(() => { document.querySelector("iframe").src = "about:blank"; });
  for (const [page, me] of [[pb, "bob"], [pc, "carol"]]) {
    await waitFor(`${me} seeing alice leave`, has(page, (e) => e.type === "left" && e.id === alice.participantId), 20000);
  }
  await waitFor("alice DISCONNECTED", async () => (await send(new GetParticipantCommand({
    stageArn: arn, sessionId, participantId: alice.participantId,
  }))).participant.state === "DISCONNECTED", 20000);
  log(`alice gone for the others and the API ${Date.now() - t} ms after her page unloaded`);
}, async () => {
  await browser.close();
  server.close();
});
