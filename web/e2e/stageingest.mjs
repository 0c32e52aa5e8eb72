// An encoder publishing RTMPS into a stage with an ingest configuration's
// stream key, seen by IVS's own Stage client in Chromium: the stage and
// the configuration come from @aws-sdk/client-ivs-realtime
// (CreateIngestConfiguration, RTMPS, a user id and attributes); ffmpeg
// publishes H.264 Main without B-frames and AAC to the stage's
// endpoints.rtmps with the configuration's key; a SUBSCRIBE-only
// participant (amazon-ivs-web-broadcast 1.41.0, unmodified) sees the
// encoder join with the configuration's user id and attributes, decodes
// its video (framesDecoded grows, the <video> has real pixels) and
// receives its audio (Opus converted from the AAC: audio samples and
// energy grow); GetParticipant shows protocol RTMPS and the
// configuration's ARN, GetIngestConfiguration state ACTIVE; a second
// encoder on the key is refused (REUSE_OF_STREAM_KEY); DeleteIngestConfiguration
// without force is a ConflictException, with force it cuts ffmpeg off and
// the subscriber sees the encoder leave. Run by test/e2e
// TestStageIngestInBrowser. With:
//   ONAIR_URL                  the server's HTTP base (the API endpoint)
//   ONAIR_AKID, ONAIR_SECRET   the admin key pair
//   TLS_SPKI                   base64 SHA-256 of its self-signed certificate's public key
//   FFMPEG                     the ffmpeg to publish with
//   SHOTS                      where screenshots go (ingest-*)
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";
import {
  IVSRealTimeClient, CreateStageCommand, CreateParticipantTokenCommand, CreateIngestConfigurationCommand,
  GetIngestConfigurationCommand, DeleteIngestConfigurationCommand, GetStageCommand, GetParticipantCommand,
  ListParticipantEventsCommand,
} from "@aws-sdk/client-ivs-realtime";
import { begin, installLumaSpread, keepPeerConnections, log, run, serveSDKPage, settings, shot, waitFor } from "./steps.mjs";

const env = settings("stageingest.mjs", "ONAIR_URL", "ONAIR_AKID", "ONAIR_SECRET", "TLS_SPKI", "FFMPEG", "SHOTS");
const api = new IVSRealTimeClient({
  endpoint: env.ONAIR_URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: env.ONAIR_AKID, secretAccessKey: env.ONAIR_SECRET },
});
const send = (cmd) => api.send(cmd);

// publish starts ffmpeg: a moving test picture and a tone, H.264 Main
// without B-frames (WebRTC cannot carry them) and AAC, over RTMPS.
function publish(url) {
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re",
    "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-profile:v", "main", "-bf", "0", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
    "-g", "30", "-b:v", "800k", "-c:a", "aac", "-b:a", "96k", "-f", "flv", url];
  const p = spawn(env.FFMPEG, args, { stdio: ["ignore", "inherit", "inherit"] });
  p.exited = new Promise((resolve) => p.on("exit", (code, signal) => resolve({ code, signal })));
  log(`ffmpeg pid ${p.pid}`);
  return p;
}
const encoders = [];

const html = `<!doctype html><html><body style="font-family:sans-serif">
<h1>IVS Stage subscriber → an RTMPS encoder on onair</h1>
<p>state: <b id="state">idle</b></p><div id="videos"></div><ol id="events" style="font-size:11px"></ol>
<script src="/amazon-ivs-web-broadcast.js"></script></body></html>`;
const { origin, server } = await serveSDKPage(html);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns", `--ignore-certificate-errors-spki-list=${env.TLS_SPKI}`],
});

await run(async () => {
  begin("a stage, a SUBSCRIBE-only token and an RTMPS ingest configuration on it");
  const { stage } = await send(new CreateStageCommand({ name: "rtmp-stage" }));
  const viewer = (await send(new CreateParticipantTokenCommand({ stageArn: stage.arn, userId: "viewer", capabilities: ["SUBSCRIBE"] })))
    .participantToken;
  const { ingestConfiguration: ic } = await send(new CreateIngestConfigurationCommand({
    name: "studio-encoder", stageArn: stage.arn, userId: "encoder", attributes: { role: "camera" }, ingestProtocol: "RTMPS",
  }));
  if (ic.state !== "INACTIVE" || !/^rt_[0-9]+_[a-z0-9-]+_[a-zA-Z0-9-]+_.+$/.test(ic.streamKey) || ic.stageArn !== stage.arn) {
    throw new Error(`ingest configuration ${JSON.stringify(ic)}`);
  }
  const rtmps = stage.endpoints.rtmps;
  if (!rtmps?.startsWith("rtmps://") || !rtmps.endsWith("/app/")) throw new Error(`endpoints ${JSON.stringify(stage.endpoints)}`);
  log(`stage ${stage.arn}, rtmps ${rtmps}, participant ${ic.participantId}`);

  begin("ffmpeg publishes to endpoints.rtmps with the stream key: the configuration is ACTIVE");
  const published = Date.now();
  encoders.push(publish(rtmps + ic.streamKey));
  await waitFor("state ACTIVE", async () => (await send(new GetIngestConfigurationCommand({ arn: ic.arn }))).ingestConfiguration.state === "ACTIVE");

  begin("a SUBSCRIBE-only participant (IVS's SDK) sees the encoder join and decodes its video and audio");
  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  await ctx.route(/live-video\.net/, (r) => r.abort());
  const page = await ctx.newPage();
  await installLumaSpread(page);
  await keepPeerConnections(page);
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(origin);
  const joined = await page.evaluate(async (token) => {
    const { Stage, StageEvents, SubscribeType } = window.IVSBroadcastClient;
    window.events = [];
    window.remote = {};
    const record = (e) => {
      window.events.push(e);
      const li = document.createElement("li");
      li.textContent = JSON.stringify(e);
      document.getElementById("events").append(li);
    };
    const stage = new Stage(token, {
      stageStreamsToPublish: () => [],
      shouldPublishParticipant: () => false,
      shouldSubscribeToParticipant: () => SubscribeType.AUDIO_VIDEO,
    });
    stage.on(StageEvents.STAGE_CONNECTION_STATE_CHANGED, (s) => { document.getElementById("state").textContent = s; });
    stage.on(StageEvents.STAGE_PARTICIPANT_JOINED, (p) => record({ type: "joined", id: p.id, userId: p.userId, attributes: p.attributes, isLocal: p.isLocal }));
    stage.on(StageEvents.STAGE_PARTICIPANT_LEFT, (p) => record({ type: "left", id: p.id }));
    stage.on(StageEvents.STAGE_PARTICIPANT_STREAMS_ADDED, (p, added) => {
      record({ type: "streamsAdded", id: p.id, kinds: added.map((s) => s.streamType) });
      if (p.isLocal) return;
      for (const s of added) window.remote[`${p.id}/${s.streamType}`] = s.mediaStreamTrack;
      const el = document.createElement("video");
      // Not muted: the audio plays out, which its energy is measured at.
      Object.assign(el, { id: `v-${p.id}`, autoplay: true, muted: false, playsInline: true, width: 640, height: 360 });
      el.srcObject = new MediaStream(added.map((s) => s.mediaStreamTrack));
      document.getElementById("videos").append(el);
    });
    // received: what the peer connection receiving the participant's
    // tracks decoded (video frames) and played out (audio samples, energy).
    window.received = async (id) => {
      const out = { frames: 0, samples: 0, concealed: 0, energy: 0, codecs: [] };
      for (const pc of window.pcs) {
        for (const r of pc.getReceivers()) {
          const kind = r.track === window.remote[`${id}/video`] ? "video" : r.track === window.remote[`${id}/audio`] ? "audio" : "";
          if (!kind) continue;
          const stats = await r.getStats();
          for (const s of stats.values()) {
            if (s.type !== "inbound-rtp") continue;
            if (kind === "video") out.frames = Math.max(out.frames, s.framesDecoded ?? 0);
            else {
              out.samples = Math.max(out.samples, s.totalSamplesReceived ?? 0);
              out.concealed = Math.max(out.concealed, s.concealedSamples ?? 0);
              out.energy = Math.max(out.energy, s.totalAudioEnergy ?? 0);
            }
            const c = stats.get(s.codecId);
            if (c) out.codecs.push(`${c.mimeType} ${c.sdpFmtpLine ?? ""}`.trim());
          }
        }
      }
      const el = document.getElementById(`v-${id}`);
      out.spread = el && el.videoWidth > 0 ? window.lumaSpread(el) : 0;
      out.width = el?.videoWidth ?? 0;
      return out;
    };
    try {
      await stage.join();
      return { ok: true };
    } catch (e) {
      return { ok: false, error: `${e.code ?? ""} ${e.name}: ${e.message}` };
    }
  }, viewer.token);
  if (!joined.ok) throw new Error(`join: ${joined.error}`);
  const seen = await waitFor("the encoder in the roster", () => page.evaluate((id) => window.events.find((e) => e.type === "joined" && e.id === id),
    ic.participantId));
  if (seen.userId !== "encoder" || seen.attributes.role !== "camera") throw new Error(`the encoder joined as ${JSON.stringify(seen)}`);
  const first = await waitFor("the encoder's video decoding and audio playing", async () => {
    const r = await page.evaluate((id) => window.received(id), ic.participantId);
    return r.frames > 10 && r.spread > 40 && r.samples > 0 && r;
  }, 60000);
  let last = first;
  const later = await waitFor("frames and audio growing", async () => {
    const r = last = await page.evaluate((id) => window.received(id), ic.participantId);
    // Audio decoded, not concealed: a second more of it, with energy.
    return r.frames >= first.frames + 30 && r.samples - r.concealed >= first.samples - first.concealed + 48000 &&
      r.energy > first.energy && r;
  }, 30000).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(first)} then ${JSON.stringify(last)}`); });
  log(`received ${JSON.stringify(first)} (${Date.now() - published} ms after ffmpeg started, the join included) then ${JSON.stringify(later)}`);
  if (!later.codecs.some((c) => c.startsWith("video/H264")) || !later.codecs.some((c) => c.startsWith("audio/opus"))) {
    throw new Error(`codecs ${later.codecs}`);
  }
  await shot(page, "ingest-01-subscriber-decodes-the-encoder");

  begin("GetParticipant: protocol RTMPS, the configuration's ARN, user id and attributes");
  const sessionId = (await send(new GetStageCommand({ arn: stage.arn }))).stage.activeSessionId;
  const { participant } = await send(new GetParticipantCommand({ stageArn: stage.arn, sessionId, participantId: ic.participantId }));
  if (participant.protocol !== "RTMPS" || participant.ingestConfigurationArn !== ic.arn || participant.userId !== "encoder" ||
    participant.attributes.role !== "camera" || !participant.published || participant.state !== "CONNECTED") {
    throw new Error(`participant ${JSON.stringify(participant)}`);
  }

  begin("a second encoder on the key is refused: REUSE_OF_STREAM_KEY");
  const second = publish(rtmps + ic.streamKey);
  encoders.push(second);
  const ended2 = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r(null), 20000))]);
  if (!ended2 || ended2.code === 0) throw new Error(`the second encoder: ${JSON.stringify(ended2)}`);
  await waitFor("REUSE_OF_STREAM_KEY", async () => {
    const { events } = await send(new ListParticipantEventsCommand({ stageArn: stage.arn, sessionId, participantId: ic.participantId }));
    return events.some((e) => e.name === "PUBLISH_ERROR" && e.errorCode === "REUSE_OF_STREAM_KEY");
  });
  const still = await page.evaluate((id) => window.received(id), ic.participantId);
  if (still.frames <= later.frames) throw new Error(`the first encoder's video stopped: ${JSON.stringify(still)}`);

  begin("DeleteIngestConfiguration: refused while in use, forced it cuts ffmpeg off and the encoder leaves");
  await send(new DeleteIngestConfigurationCommand({ arn: ic.arn })).then(
    () => { throw new Error("deleted an active configuration without force"); },
    (e) => { if (e.name !== "ConflictException") throw e; });
  const t0 = Date.now();
  await send(new DeleteIngestConfigurationCommand({ arn: ic.arn, force: true }));
  const ended = await Promise.race([encoders[0].exited, new Promise((r) => setTimeout(() => r(null), 10000))]);
  if (!ended) throw new Error("ffmpeg still runs 10 s after the forced delete");
  log(`ffmpeg ended ${Date.now() - t0} ms after the forced delete: ${JSON.stringify(ended)}`);
  await waitFor("the subscriber seeing the encoder leave", () => page.evaluate((id) => window.events.some((e) => e.type === "left" && e.id === id),
    ic.participantId));
  const { events } = await send(new ListParticipantEventsCommand({ stageArn: stage.arn, sessionId, participantId: ic.participantId }));
  const names = events.map((e) => e.name);
  for (const n of ["JOINED", "PUBLISH_STARTED", "PUBLISH_STOPPED", "LEFT"]) if (!names.includes(n)) throw new Error(`events ${names}`);
  await shot(page, "ingest-02-encoder-deleted");
}, async () => {
  for (const e of encoders) e.kill("SIGKILL");
  await browser.close();
  server.close();
});
