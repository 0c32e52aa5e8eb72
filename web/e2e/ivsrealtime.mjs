// The Stages control plane (IVS Real-Time) through @aws-sdk/client-ivs-realtime
// against the real binary, with node:test: every served operation, success
// and each error, decoded by the SDK (error.name, $metadata.httpStatusCode).
// Run by test/e2e TestStagesWithJSSDK:
//   ONAIR_URL     http://host:port (the API endpoint)
//   ONAIR_HTTPS   https://host:port (where stage endpoints must point)
//   ONAIR_AKID, ONAIR_SECRET   the admin key pair
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import {
  IVSRealTimeClient,
  CreateStageCommand, GetStageCommand, UpdateStageCommand, DeleteStageCommand, ListStagesCommand,
  CreateParticipantTokenCommand, DisconnectParticipantCommand,
  GetParticipantCommand, ListParticipantsCommand, ListParticipantEventsCommand, GetStageSessionCommand, ListStageSessionsCommand,
  ImportPublicKeyCommand, GetPublicKeyCommand, DeletePublicKeyCommand, ListPublicKeysCommand,
  CreateEncoderConfigurationCommand, GetEncoderConfigurationCommand, DeleteEncoderConfigurationCommand, ListEncoderConfigurationsCommand,
  CreateStorageConfigurationCommand, GetStorageConfigurationCommand, DeleteStorageConfigurationCommand, ListStorageConfigurationsCommand,
  TagResourceCommand, UntagResourceCommand, ListTagsForResourceCommand,
  StartCompositionCommand, ListCompositionsCommand,
  CreateIngestConfigurationCommand, GetIngestConfigurationCommand, UpdateIngestConfigurationCommand, DeleteIngestConfigurationCommand,
  ListIngestConfigurationsCommand,
} from "@aws-sdk/client-ivs-realtime";

const { ONAIR_URL, ONAIR_HTTPS, ONAIR_AKID, ONAIR_SECRET } = process.env;
assert.ok(ONAIR_URL && ONAIR_HTTPS && ONAIR_AKID && ONAIR_SECRET, "ONAIR_URL, ONAIR_HTTPS, ONAIR_AKID and ONAIR_SECRET are required");

const client = new IVSRealTimeClient({
  endpoint: ONAIR_URL, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: ONAIR_AKID, secretAccessKey: ONAIR_SECRET },
});
const send = (cmd) => client.send(cmd);

// rejects checks that cmd fails with the error name, HTTP status and a
// message that contains each of msgs.
async function rejects(cmd, name, status, ...msgs) {
  await assert.rejects(send(cmd), (err) => {
    assert.equal(err.name, name, `${cmd.constructor.name}: ${err.name}: ${err.message}`);
    assert.equal(err.$metadata?.httpStatusCode, status, `${cmd.constructor.name}: status`);
    for (const m of msgs) assert.ok(err.message.includes(m), `${cmd.constructor.name}: message ${JSON.stringify(err.message)} lacks ${JSON.stringify(m)}`);
    return true;
  });
}

function claims(token) {
  const [h, c] = token.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url").toString()));
  return { header: h, claims: c };
}

const p384 = () => generateKeyPairSync("ec", { namedCurve: "secp384r1", publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } }).publicKey;
const rsa = () => generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } }).publicKey;

const httpsHost = new URL(ONAIR_HTTPS).host;
const missingSession = "st-AAAAAAAAAAAAA";

test("stages: create with tokens, get, update, list in pages, delete", async () => {
  const out = await send(new CreateStageCommand({
    name: "studio", tags: { team: "a" },
    participantTokenConfigurations: [
      { userId: "host", duration: 30, attributes: { role: "host" }, capabilities: ["PUBLISH", "SUBSCRIBE"] },
      { capabilities: ["SUBSCRIBE"] },
    ],
  }));
  const st = out.stage;
  assert.match(st.arn, /^arn:aws:ivs:us-east-1:\d{12}:stage\/[a-zA-Z0-9]{12}$/);
  assert.equal(st.name, "studio");
  assert.deepEqual(st.tags, { team: "a" });
  const { events, whip, rtmp, rtmps, ...more } = st.endpoints;
  assert.deepEqual({ events, whip, more }, { events: `wss://${httpsHost}/stage/events`, whip: `https://${httpsHost}/stage/whip`, more: {} });
  assert.match(rtmp, /^rtmp:\/\/127\.0\.0\.1:\d+\/app\/$/);
  assert.match(rtmps, /^rtmps:\/\/127\.0\.0\.1:\d+\/app\/$/);
  assert.equal(st.activeSessionId, undefined);
  assert.deepEqual(st.autoParticipantRecordingConfiguration.mediaTypes, ["AUDIO_VIDEO"]);
  assert.equal(st.autoParticipantRecordingConfiguration.storageConfigurationArn, "");
  assert.equal(st.autoParticipantRecordingConfiguration.hlsConfiguration.targetSegmentDurationSeconds, 6);
  assert.equal(out.participantTokens.length, 2);
  const [host, viewer] = out.participantTokens;
  assert.equal(host.userId, "host");
  assert.equal(host.duration, 30);
  assert.ok(host.expirationTime instanceof Date, "expirationTime decodes as a Date");
  assert.ok(Math.abs(host.expirationTime.getTime() - Date.now() - 30 * 60e3) < 60e3, `expirationTime ${host.expirationTime}`);
  assert.deepEqual(viewer.capabilities, ["SUBSCRIBE"]);
  assert.equal(viewer.duration, 720);
  const { header, claims: c } = claims(host.token);
  assert.equal(header.alg, "ES384");
  assert.equal(c.jti, host.participantId);
  assert.equal(c.resource, st.arn);
  assert.equal(c.topic, st.arn.split("/").pop());
  assert.equal(c.events_url, st.endpoints.events);
  assert.equal(c.whip_url, st.endpoints.whip);
  assert.deepEqual(c.capabilities, { allow_publish: true, allow_subscribe: true });
  assert.deepEqual(claims(viewer.token).claims.capabilities, { allow_publish: false, allow_subscribe: true });
  assert.deepEqual(c.attributes, { role: "host" });
  assert.equal(c.version, "1.0");

  assert.equal((await send(new GetStageCommand({ arn: st.arn }))).stage.name, "studio");
  const up = await send(new UpdateStageCommand({ arn: st.arn, name: "renamed",
    autoParticipantRecordingConfiguration: { storageConfigurationArn: "", mediaTypes: ["AUDIO_ONLY"] } }));
  assert.equal(up.stage.name, "renamed");
  // An empty storageConfigurationArn turns recording off and resets the rest to the defaults.
  assert.deepEqual(up.stage.autoParticipantRecordingConfiguration.mediaTypes, ["AUDIO_VIDEO"]);

  const second = (await send(new CreateStageCommand({}))).stage;
  const seen = [];
  let nextToken;
  do {
    const page = await send(new ListStagesCommand({ maxResults: 1, nextToken }));
    assert.ok(page.stages.length <= 1);
    seen.push(...page.stages.map((s) => s.arn));
    nextToken = page.nextToken;
  } while (nextToken);
  assert.ok(seen.includes(st.arn) && seen.includes(second.arn), `listed ${seen}`);
  assert.equal(new Set(seen).size, seen.length, "no stage twice");

  await send(new DeleteStageCommand({ arn: second.arn }));
  await rejects(new GetStageCommand({ arn: second.arn }), "ResourceNotFoundException", 404, second.arn);
  await rejects(new DeleteStageCommand({ arn: second.arn }), "ResourceNotFoundException", 404);
  await send(new DeleteStageCommand({ arn: st.arn }));
});

test("stages and tokens: validation errors name the field", async () => {
  const { stage } = await send(new CreateStageCommand({ name: "v" }));
  const arn = stage.arn;
  const cases = [
    [new CreateStageCommand({ name: "bad name!" }), "name"],
    [new CreateStageCommand({ participantTokenConfigurations: Array.from({ length: 13 }, () => ({})) }), "participantTokenConfigurations"],
    [new CreateStageCommand({ participantTokenConfigurations: [{ duration: 0 }] }), "participantTokenConfigurations.duration"],
    [new CreateStageCommand({ tags: { "aws:x": "y" } }), "tags"],
    [new CreateStageCommand({ autoParticipantRecordingConfiguration: { storageConfigurationArn: "", recordingReconnectWindowSeconds: 301 } }),
      "autoParticipantRecordingConfiguration.recordingReconnectWindowSeconds"],
    [new CreateParticipantTokenCommand({ stageArn: arn, duration: 20161 }), "duration"],
    [new CreateParticipantTokenCommand({ stageArn: arn, userId: "u".repeat(129) }), "userId"],
    [new CreateParticipantTokenCommand({ stageArn: arn, attributes: { a: "x".repeat(1024) } }), "attributes"],
    [new CreateParticipantTokenCommand({ stageArn: arn, capabilities: ["PUBLISH", "SUBSCRIBE", "PUBLISH"] }), "capabilities"],
    [new CreateParticipantTokenCommand({ stageArn: arn, capabilities: ["ADMIN"] }), "capabilities"],
    [new CreateParticipantTokenCommand({ stageArn: "arn:aws:ivs:us-east-1:123456789012:channel/abcdABCDefgh" }), "stageArn"],
    [new GetStageCommand({ arn: "not-an-arn" }), "arn"],
    [new ListStagesCommand({ maxResults: 101 }), "maxResults"],
    [new ListStagesCommand({ nextToken: "bad token!" }), "nextToken"],
    [new UpdateStageCommand({ arn, name: "x".repeat(129) }), "name"],
  ];
  for (const [cmd, field] of cases) await rejects(cmd, "ValidationException", 400, field);
  // Participant recording needs a storage configuration of the account.
  await rejects(new UpdateStageCommand({ arn, autoParticipantRecordingConfiguration: {
    storageConfigurationArn: "arn:aws:ivs:us-east-1:123456789012:storage-configuration/abcdABCDefgh" } }),
  "ValidationException", 400, "autoParticipantRecordingConfiguration.storageConfigurationArn");
  await send(new DeleteStageCommand({ arn }));
  await rejects(new CreateParticipantTokenCommand({ stageArn: arn }), "ResourceNotFoundException", 404);
});

test("participants, stage sessions, events of a stage nobody joined", async () => {
  const { stage, participantTokens } = await send(new CreateStageCommand({ participantTokenConfigurations: [{}] }));
  const pid = participantTokens[0].participantId;
  const sessions = await send(new ListStageSessionsCommand({ stageArn: stage.arn }));
  assert.deepEqual(sessions.stageSessions, []);
  await rejects(new GetStageSessionCommand({ stageArn: stage.arn, sessionId: missingSession }), "ResourceNotFoundException", 404, missingSession);
  await rejects(new GetStageSessionCommand({ stageArn: stage.arn, sessionId: "xx-AAAAAAAAAAAAA" }), "ValidationException", 400, "sessionId");
  await rejects(new GetParticipantCommand({ stageArn: stage.arn, sessionId: missingSession, participantId: pid }), "ResourceNotFoundException", 404);
  // The List operations have no ResourceNotFoundException in IVS's model: an unknown session has nothing.
  assert.deepEqual((await send(new ListParticipantsCommand({ stageArn: stage.arn, sessionId: missingSession }))).participants, []);
  assert.deepEqual((await send(new ListParticipantEventsCommand({ stageArn: stage.arn, sessionId: missingSession, participantId: pid }))).events, []);
  await rejects(new ListParticipantsCommand({ stageArn: stage.arn, sessionId: missingSession, filterByUserId: "a", filterByPublished: true }),
    "ValidationException", 400, "filterByUserId");
  await rejects(new ListParticipantsCommand({ stageArn: stage.arn, sessionId: missingSession, filterByState: "GONE" }), "ValidationException", 400, "filterByState");
  await rejects(new ListStageSessionsCommand({ stageArn: stage.arn, maxResults: 0 }), "ValidationException", 400, "maxResults");
  await rejects(new DisconnectParticipantCommand({ stageArn: stage.arn, participantId: pid, reason: "bye" }), "ResourceNotFoundException", 404, "not connected");
  await rejects(new DisconnectParticipantCommand({ stageArn: stage.arn, participantId: pid, reason: "r".repeat(129) }), "ValidationException", 400, "reason");
  await send(new DeleteStageCommand({ arn: stage.arn }));
  assert.deepEqual((await send(new ListStageSessionsCommand({ stageArn: stage.arn }))).stageSessions, []);
});

test("public keys: import, get, list, conflict, refusals, delete", async () => {
  const material = p384();
  const { publicKey } = await send(new ImportPublicKeyCommand({ publicKeyMaterial: material, name: "signer", tags: { k: "v" } }));
  assert.match(publicKey.arn, /:public-key\/[a-zA-Z0-9]{12}$/);
  assert.match(publicKey.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
  assert.equal(publicKey.publicKeyMaterial, material);
  assert.equal((await send(new GetPublicKeyCommand({ arn: publicKey.arn }))).publicKey.name, "signer");
  assert.ok((await send(new ListPublicKeysCommand({}))).publicKeys.some((k) => k.arn === publicKey.arn));
  await rejects(new ImportPublicKeyCommand({ publicKeyMaterial: material }), "ConflictException", 409, publicKey.arn);
  await rejects(new ImportPublicKeyCommand({ publicKeyMaterial: rsa() }), "ValidationException", 400, "publicKeyMaterial", "P-384");
  await rejects(new ImportPublicKeyCommand({ publicKeyMaterial: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }), "ValidationException", 400, "publicKeyMaterial");
  await rejects(new ImportPublicKeyCommand({ publicKeyMaterial: p384(), name: "bad name!" }), "ValidationException", 400, "name");
  await send(new DeletePublicKeyCommand({ arn: publicKey.arn }));
  await rejects(new GetPublicKeyCommand({ arn: publicKey.arn }), "ResourceNotFoundException", 404);
  await rejects(new DeletePublicKeyCommand({ arn: publicKey.arn }), "ResourceNotFoundException", 404);
});

test("encoder configurations: defaults, limits, get, list, delete", async () => {
  const def = (await send(new CreateEncoderConfigurationCommand({}))).encoderConfiguration;
  assert.deepEqual(def.video, { width: 1280, height: 720, framerate: 30, bitrate: 2500000 });
  const hd = (await send(new CreateEncoderConfigurationCommand({ name: "hd", video: { width: 1920, height: 1080, framerate: 59.94, bitrate: 8500000 } }))).encoderConfiguration;
  assert.equal(hd.video.framerate.toFixed(2), "59.94");
  assert.equal((await send(new GetEncoderConfigurationCommand({ arn: hd.arn }))).encoderConfiguration.name, "hd");
  const list = await send(new ListEncoderConfigurationsCommand({}));
  assert.ok(list.encoderConfigurations.some((e) => e.arn === hd.arn));
  for (const [video, field] of [
    [{ width: 1279 }, "video.width"], [{ height: 2000 }, "video.height"], [{ width: 1920, height: 1920 }, "video.width"],
    [{ framerate: 0.5 }, "video.framerate"], [{ bitrate: 8500001 }, "video.bitrate"],
  ]) await rejects(new CreateEncoderConfigurationCommand({ video }), "ValidationException", 400, field);
  for (const e of [def, hd]) await send(new DeleteEncoderConfigurationCommand({ arn: e.arn }));
  await rejects(new GetEncoderConfigurationCommand({ arn: hd.arn }), "ResourceNotFoundException", 404);
  // The quota: 20.
  const made = [];
  for (let i = 0; i < 20; i++) made.push((await send(new CreateEncoderConfigurationCommand({}))).encoderConfiguration.arn);
  await rejects(new CreateEncoderConfigurationCommand({}), "ServiceQuotaExceededException", 402, "20");
  for (const arn of made) await send(new DeleteEncoderConfigurationCommand({ arn }));
});

test("storage configurations: bucket checked, get, list, delete", async () => {
  const sc = (await send(new CreateStorageConfigurationCommand({ name: "rec", s3: { bucketName: "stage-js" }, tags: { a: "b" } }))).storageConfiguration;
  assert.equal(sc.s3.bucketName, "stage-js");
  assert.deepEqual(sc.tags, { a: "b" });
  assert.equal((await send(new GetStorageConfigurationCommand({ arn: sc.arn }))).storageConfiguration.name, "rec");
  assert.ok((await send(new ListStorageConfigurationsCommand({}))).storageConfigurations.some((c) => c.arn === sc.arn && c.s3.bucketName === "stage-js"));
  await rejects(new CreateStorageConfigurationCommand({ s3: { bucketName: "No_Such" } }), "ValidationException", 400, "s3.bucketName");
  await send(new DeleteStorageConfigurationCommand({ arn: sc.arn }));
  await rejects(new GetStorageConfigurationCommand({ arn: sc.arn }), "ResourceNotFoundException", 404);
});

test("tags go by the resource type of the ARN", async () => {
  const { stage } = await send(new CreateStageCommand({ tags: { a: "1" } }));
  const enc = (await send(new CreateEncoderConfigurationCommand({}))).encoderConfiguration;
  for (const arn of [stage.arn, enc.arn]) {
    await send(new TagResourceCommand({ resourceArn: arn, tags: { b: "2", c: "3" } }));
    await send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ["c"] }));
    const { tags } = await send(new ListTagsForResourceCommand({ resourceArn: arn }));
    assert.equal(tags.b, "2");
    assert.equal(tags.c, undefined);
  }
  assert.equal((await send(new GetStageCommand({ arn: stage.arn }))).stage.tags.a, "1");
  await rejects(new TagResourceCommand({ resourceArn: stage.arn, tags: { "aws:k": "v" } }), "ValidationException", 400, "tags");
  await send(new DeleteStageCommand({ arn: stage.arn }));
  await send(new DeleteEncoderConfigurationCommand({ arn: enc.arn }));
  await rejects(new ListTagsForResourceCommand({ resourceArn: stage.arn }), "ResourceNotFoundException", 404);
});

test("ingest configurations: create, get, update, list with filters, delete, and each refusal", async () => {
  const { stage } = await send(new CreateStageCommand({ name: "ingest" }));
  const { ingestConfiguration: ic } = await send(new CreateIngestConfigurationCommand({
    name: "cam-1", stageArn: stage.arn, userId: "cam", attributes: { role: "camera" }, ingestProtocol: "RTMPS", tags: { t: "1" },
  }));
  assert.match(ic.arn, /^arn:aws:ivs:us-east-1:\d{12}:ingest-configuration\/[a-zA-Z0-9]{12}$/);
  assert.match(ic.streamKey, new RegExp(`^rt_\\d{12}_us-east-1_${ic.arn.split("/")[1]}_[a-zA-Z0-9]{43}$`));
  assert.match(ic.participantId, /^[a-zA-Z0-9]{12}$/);
  assert.deepEqual({ name: ic.name, stageArn: ic.stageArn, userId: ic.userId, attributes: ic.attributes, ingestProtocol: ic.ingestProtocol,
    state: ic.state, redundantIngest: ic.redundantIngest, tags: ic.tags },
  { name: "cam-1", stageArn: stage.arn, userId: "cam", attributes: { role: "camera" }, ingestProtocol: "RTMPS", state: "INACTIVE",
    redundantIngest: false, tags: { t: "1" } });
  assert.deepEqual((await send(new GetIngestConfigurationCommand({ arn: ic.arn }))).ingestConfiguration, ic);
  const { ingestConfiguration: rtmp } = await send(new CreateIngestConfigurationCommand({ ingestProtocol: "RTMP", insecureIngest: true }));
  assert.equal(rtmp.stageArn, "");

  const up = (await send(new UpdateIngestConfigurationCommand({ arn: rtmp.arn, stageArn: stage.arn, redundantIngest: true }))).ingestConfiguration;
  assert.equal(up.stageArn, stage.arn);
  assert.equal(up.redundantIngestCredentials.length, 1);
  assert.notEqual(up.redundantIngestCredentials[0].participantId, up.participantId);
  assert.match(up.redundantIngestCredentials[0].streamKey, /^rt_/);

  const all = (await send(new ListIngestConfigurationsCommand({}))).ingestConfigurations.map((c) => c.arn).sort();
  assert.deepEqual(all, [ic.arn, rtmp.arn].sort());
  const summary = (await send(new ListIngestConfigurationsCommand({ filterByStageArn: stage.arn, maxResults: 1 })));
  assert.equal(summary.ingestConfigurations.length, 1);
  assert.ok(summary.nextToken);
  assert.equal(summary.ingestConfigurations[0].streamKey, undefined, "summaries carry no stream key");
  assert.equal((await send(new ListIngestConfigurationsCommand({ filterByState: "ACTIVE" }))).ingestConfigurations.length, 0);

  await rejects(new CreateIngestConfigurationCommand({ ingestProtocol: "RTMP" }), "ValidationException", 400, "insecureIngest");
  await rejects(new CreateIngestConfigurationCommand({ ingestProtocol: "RTMPS", userId: "u".repeat(129) }), "ValidationException", 400, "userId");
  await rejects(new CreateIngestConfigurationCommand({ ingestProtocol: "RTMPS", name: "a b" }), "ValidationException", 400, "name");
  await rejects(new CreateIngestConfigurationCommand({ ingestProtocol: "RTMPS", stageArn: stage.arn.replace(/[^/]+$/, "abcdABCDefgh") }),
    "ValidationException", 400, "stageArn");
  await rejects(new UpdateIngestConfigurationCommand({ arn: ic.arn, stageArn: stage.arn.replace(/[^/]+$/, "abcdABCDefgh") }),
    "ResourceNotFoundException", 404);
  await rejects(new ListIngestConfigurationsCommand({ filterByStageArn: stage.arn, filterByState: "ACTIVE" }), "ValidationException", 400);
  await rejects(new ListIngestConfigurationsCommand({ filterByState: "LIVE" }), "ValidationException", 400, "filterByState");
  await rejects(new GetIngestConfigurationCommand({ arn: ic.arn.replace(/[^/]+$/, "abcdABCDefgh") }), "ResourceNotFoundException", 404);

  await send(new DeleteStageCommand({ arn: stage.arn }));
  assert.equal((await send(new GetIngestConfigurationCommand({ arn: ic.arn }))).ingestConfiguration.stageArn, "",
    "DeleteStage lets go of the stage");
  await send(new DeleteIngestConfigurationCommand({ arn: ic.arn }));
  await send(new DeleteIngestConfigurationCommand({ arn: rtmp.arn, force: true }));
  assert.equal((await send(new ListIngestConfigurationsCommand({}))).ingestConfigurations.length, 0);
  await rejects(new DeleteIngestConfigurationCommand({ arn: ic.arn }), "ResourceNotFoundException", 404);
});

test("StartComposition's refusals name what is wrong; ListCompositions filters by stage", async () => {
  const { stage } = await send(new CreateStageCommand({ name: "compose" }));
  const account = stage.arn.split(":")[4];
  const channel = { channelArn: `arn:aws:ivs:us-east-1:${account}:channel/abcdABCDefgh` };
  await rejects(new StartCompositionCommand({ stageArn: stage.arn, destinations: [{ channel }], layout: { grid: {}, pip: {} } }),
    "ValidationException", 400, "layout");
  await rejects(new StartCompositionCommand({ stageArn: stage.arn, destinations: [{ channel }], layout: { pip: { pipPosition: "MIDDLE" } } }),
    "ValidationException", 400, "layout.pip.pipPosition");
  await rejects(new StartCompositionCommand({ stageArn: stage.arn, destinations: [] }), "ValidationException", 400, "destinations");
  // No such channel here, nor a channel of another account.
  await rejects(new StartCompositionCommand({ stageArn: stage.arn, destinations: [{ channel }] }), "ResourceNotFoundException", 404, "not found");
  await rejects(new StartCompositionCommand({ stageArn: stage.arn, destinations: [{ channel: { channelArn: "arn:aws:ivs:us-east-1:123456789012:channel/abcdABCDefgh" } }] }),
    "ResourceNotFoundException", 404, "not found");
  assert.deepEqual((await send(new ListCompositionsCommand({ filterByStageArn: stage.arn }))).compositions, []);
  await send(new DeleteStageCommand({ arn: stage.arn }));
});

test("the stage quota: the 101st stage is ServiceQuotaExceededException (402)", async () => {
  let have = 0;
  let nextToken;
  do {
    const page = await send(new ListStagesCommand({ maxResults: 100, nextToken }));
    have += page.stages.length;
    nextToken = page.nextToken;
  } while (nextToken);
  const made = [];
  for (let i = have; i < 100; i++) made.push((await send(new CreateStageCommand({}))).stage.arn);
  await rejects(new CreateStageCommand({}), "ServiceQuotaExceededException", 402, "100");
  for (const arn of made) await send(new DeleteStageCommand({ arn }));
  await send(new CreateStageCommand({})); // room again
});
