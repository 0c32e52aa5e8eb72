// IVS's own Stage client (npm amazon-ivs-web-broadcast 1.41.0, unmodified)
// on a stage of onair's in Chromium, for what a stage app uses beyond
// joining: alice publishes her fake camera at 1280x720 with the SDK's
// simulcast (rids hi/mid/low); bob subscribes asking for the lowest layer
// first (the SDK's default), carol for the highest. Through the SDK's own
// layer API (RemoteStageStream.getLayers, which polls onair's WHEP layer
// Link) bob sees the layers with their sizes as Chrome's bandwidth
// estimate ramps up (the time to each is logged); he decodes the low
// layer's size, then the highest once his strategy prefers it
// (preferredLayerForStream), then the low one again. Carol, AUDIO_ONLY by
// strategy, has the SDK pause her video over onair's playback-controls
// Link (framesDecoded stops) and resume it on AUDIO_VIDEO (it grows
// again). Then alice's page unloads: the SDK's session-delete beacon ends
// her participant at once (the others see her leave). Run by test/e2e
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
import { begin, log, run, serveSDKPage, settings, shot, waitFor } from "./steps.mjs";

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
    `--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`],
});

async function openPage(name) {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await ctx.route(/live-video\.net/, (r) => r.abort());
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.pcs = [];
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.pcs.push(this);
      }
    };
  });
  page.on("pageerror", (e) => log(`${name}: page error: ${e.message}`));
  // (Blocked telemetry requests are errors too: not logged.)
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().includes("ERR_FAILED")) log(`${name}: console: ${m.text().slice(0, 300)}`);
  });
  await page.goto(origin);
  await page.evaluate(() => {
    const { Stage, StageEvents, SubscribeType, LocalStageStream, RemoteStageStreamEvents } = window.IVSBroadcastClient;
    window.events = [];
    window.remote = {}; // participant id → its video RemoteStageStream
    window.layerLog = []; // [ms since join, layers] as LAYERS_CHANGED reports them
    window.preferred = null; // the layer label preferredLayerForStream answers; null: the server's choice
    window.subscribeType = SubscribeType.AUDIO_VIDEO;
    const record = (type, p, extra = {}) => window.events.push({ type, ...extra, ...(p ? { id: p.id, isLocal: p.isLocal } : {}) });
    // join joins; publish: the camera at 1280x720 with simulcast on;
    // initial: the subscribe configuration's initialLayerPreference.
    window.join = async (token, publish, initial) => {
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
        preferredLayerForStream: () => window.preferred,
      };
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
        video.on(RemoteStageStreamEvents.LAYERS_CHANGED, (layers) => {
          window.layerLog.push([Math.round(performance.now() - t0), layers.map((l) => ({ ...l }))]);
          document.getElementById("layers").textContent = JSON.stringify(layers, null, 1);
        });
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
      let spread = 0;
      if (el && el.videoWidth > 0) {
        const c = document.createElement("canvas");
        c.width = 64;
        c.height = 36;
        const g = c.getContext("2d", { willReadFrequently: true });
        g.drawImage(el, 0, 0, 64, 36);
        const d = g.getImageData(0, 0, 64, 36).data;
        let lo = 255, hi = 0;
        for (let i = 0; i < d.length; i += 4) {
          const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
          lo = Math.min(lo, y);
          hi = Math.max(hi, y);
        }
        spread = hi - lo;
      }
      return { frames, spread, width: el?.videoWidth ?? 0, height: el?.videoHeight ?? 0, frameWidth: fw, frameHeight: fh };
    };
    window.layers = (id) => (window.remote[id]?.getLayers() ?? []).map((l) => ({ ...l }));
    // sent: the publish peer connection's outbound video encodings (rid,
    // size, whether active).
    window.sent = async () => {
      const out = [];
      for (const pc of window.pcs) {
        for (const s of (await pc.getStats()).values()) {
          if (s.type === "outbound-rtp" && s.kind === "video") out.push({ rid: s.rid, w: s.frameWidth, h: s.frameHeight, active: s.active });
        }
      }
      return out;
    };
  });
  return page;
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

  begin("alice publishes 1280x720 with simulcast; bob (lowest first) and carol (highest first) subscribe");
  const pa = await openPage("alice");
  const pb = await openPage("bob");
  const pc = await openPage("carol");
  const joinedAt = Date.now();
  for (const [page, t, pub, initial] of [[pa, alice, true, "lowest_quality"], [pb, bob, false, "lowest_quality"],
    [pc, carol, false, "highest_quality"]]) {
    const r = await page.evaluate(([tok, p, i]) => window.join(tok, p, i), [t.token, pub, initial]);
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

  begin("bob, who asked for the lowest layer, decodes alice's low layer");
  // (The SFU starts a subscriber on the first keyframe of a layer being
  // sent: the low layer is taken as soon as it arrives.)
  const first = await waitFor("bob decoding alice's 320x180", async () => {
    const d = await decodedOf(pb, alice.participantId);
    return d.frames > 10 && d.spread > 40 && d.frameWidth === 320 && d.frameHeight === 180 && d;
  }, 60000);
  log(`bob decodes ${JSON.stringify(first)} after ${Date.now() - joinedAt} ms`);

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

  begin("carol (highest first) decodes the top layer");
  const top = await waitFor("carol decoding 1280x720", async () => {
    const d = await decodedOf(pc, alice.participantId);
    return d.frameWidth === 1280 && d.spread > 40 && d;
  }, 60000);
  // The ramp: Chrome sends its top layer steadily once its bandwidth
  // estimate (fed by onair's TWCC feedback) allows; only then is it
  // forwarded.
  log(`carol decodes ${JSON.stringify(top)}: the ramp to the top layer took ${Date.now() - joinedAt} ms after join`);

  begin("bob prefers the highest layer, then the lowest: the decoded size follows");
  for (const [label, width] of [["hi", 1280], ["low", 320]]) {
    const t = Date.now();
    await pb.evaluate((l) => { window.preferred = l; window.stage.refreshStrategy(); }, label);
    const d = await waitFor(`bob decoding ${label} (${width} wide)`, async () => {
      const x = await decodedOf(pb, alice.participantId);
      return x.frameWidth === width && x;
    }, 30000);
    const selected = (await pb.evaluate((id) => window.remote[id].getSelectedLayer(), alice.participantId))?.label;
    log(`bob on ${label} after ${Date.now() - t} ms: ${JSON.stringify(d)}, selected ${selected}`);
    await shot(pb, `60-sdk-bob-${label}`);
  }

  const sessionId = (await send(new GetStageCommand({ arn }))).stage.activeSessionId;
  writeFileSync(env.STAGE_OUT, JSON.stringify({ stageArn: arn, sessionId, alice: alice.participantId, bob: bob.participantId,
    carol: carol.participantId }));
}, async () => {
  await browser.close();
  server.close();
});
