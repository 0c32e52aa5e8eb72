// onair's own chat client (web/src/chatclient.ts, the one the console and the
// player page ship) against onair's messaging WebSocket, with node:test: the
// same exchange as chat.mjs drives through IVS's library, and the paths the
// panel test cannot reach (errors, timeouts, a lost socket, a failed token,
// the refresh before the session ends). Run by test/e2e TestChatWithOnairClient:
//   CHAT_URL    ws://host:port/chat
//   TOKEN_URL   http://host:port/token?room=main|slow&user=…&caps=A,B
//   SILENT_URL  ws://host:port/silent: accepts any subprotocol and never
//               answers; ?close=CODE closes at once with CODE
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import ts from "typescript";

const { CHAT_URL, TOKEN_URL, SILENT_URL } = process.env;
assert.ok(CHAT_URL && TOKEN_URL && SILENT_URL, "CHAT_URL, TOKEN_URL and SILENT_URL are required");

// The client as Vite bundles it, compiled by TypeScript (it imports nothing).
const source = readFileSync(new URL("../src/chatclient.ts", import.meta.url), "utf8");
const js = ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
const { ChatClient, ChatError } = await import(`data:text/javascript;base64,${Buffer.from(js).toString("base64")}`);

async function fetchToken(room, user, caps) {
  const res = await fetch(`${TOKEN_URL}?room=${room}&user=${encodeURIComponent(user)}&caps=${caps.join(",")}`);
  if (!res.ok) throw new Error(`token endpoint: ${res.status}`);
  return res.json();
}

// watch records what a client reports.
function watch(chat) {
  const seen = { states: [], messages: [], events: [], deletes: [], userDisconnects: [] };
  chat.on("state", (s, reason) => seen.states.push(reason ? `${s}:${reason}` : s));
  chat.on("message", (m) => seen.messages.push(m));
  chat.on("event", (e) => seen.events.push(e));
  chat.on("deleteMessage", (e) => seen.deletes.push(e));
  chat.on("disconnectUser", (e) => seen.userDisconnects.push(e));
  return seen;
}

// until polls cond for up to 20 s (a generous deadline: the machine may
// be loaded).
async function until(what, cond) {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not within 20 s: ${what}`);
}

// connect joins a room as user with capabilities and resolves once
// connected.
async function connect(room, user, caps = [], opts = {}) {
  const chat = new ChatClient({ url: CHAT_URL, token: () => fetchToken(room, user, caps), ...opts });
  const seen = watch(chat);
  chat.connect();
  await until(`${user} connected`, () => {
    if (chat.state === "disconnected" && seen.states.length > 1) assert.fail(`${user}: ${seen.states}`);
    return chat.state === "connected";
  });
  return { chat, seen };
}

const isChatError = (code) => (e) => e instanceof ChatError && e.code === code && e.message.length > 0;

test("two users exchange messages, one deletes, a moderator disconnects", async () => {
  const ana = await connect("main", "ana", ["SEND_MESSAGE", "DELETE_MESSAGE"]);
  const bob = await connect("main", "bob", ["SEND_MESSAGE"]);
  const mod = await connect("main", "mod", ["DISCONNECT_USER"]);
  try {
    const sent = await ana.chat.sendMessage("hello from ana", { mood: "happy" });
    assert.equal(sent.content, "hello from ana");
    assert.equal(sent.sender.userId, "ana");
    assert.ok(sent.requestId);
    await until("bob gets ana's message", () => bob.seen.messages.some((m) => m.id === sent.id));
    const got = bob.seen.messages.find((m) => m.id === sent.id);
    assert.equal(got.attributes.mood, "happy");
    assert.equal(got.sender.attributes.display, "ANA");
    assert.equal(got.requestId, sent.requestId); // the frame is the same for everyone
    assert.ok(got.sendTime instanceof Date && !isNaN(got.sendTime));

    const reply = await bob.chat.sendMessage("hi ana");
    await until("ana gets bob's reply", () => ana.seen.messages.some((m) => m.id === reply.id));

    const del = await ana.chat.deleteMessage(reply.id, "off topic");
    assert.equal(del.messageId, reply.id);
    assert.equal(del.eventName, "aws:DELETE_MESSAGE");
    await until("bob sees the delete", () => bob.seen.deletes.some((e) => e.messageId === reply.id && e.reason === "off topic"));

    const kick = await mod.chat.disconnectUser("bob", "be nice");
    assert.equal(kick.userId, "bob");
    await until("ana sees bob disconnected", () => ana.seen.userDisconnects.some((e) => e.userId === "bob" && e.reason === "be nice"));
    // A clean close from the server: the client reports it and does not reconnect.
    await until("bob's session ends", () => bob.chat.state === "disconnected");
    assert.deepEqual(bob.seen.states, ["connecting", "connected", "disconnected:serverDisconnect"]);
    await assert.rejects(bob.chat.sendMessage("still here?"), /not connected/);
    // Each frame once, whatever the number of listeners and sockets.
    assert.equal(ana.seen.messages.filter((m) => m.id === reply.id).length, 1);
    assert.equal(ana.seen.events.length, 0); // the system events have their own listeners
  } finally {
    for (const u of [ana, bob, mod]) u.chat.close();
  }
});

test("limits and capabilities reject with IVS's error codes", async () => {
  const reader = await connect("main", "reader", []);
  const writer = await connect("main", "writer", ["SEND_MESSAGE"]);
  const hasty = await connect("slow", "hasty", ["SEND_MESSAGE"]);
  try {
    await assert.rejects(reader.chat.sendMessage("may I?"), isChatError(403));
    await assert.rejects(reader.chat.deleteMessage("some-id"), isChatError(403));
    await assert.rejects(reader.chat.disconnectUser("writer"), isChatError(403));
    await assert.rejects(writer.chat.sendMessage("x".repeat(51)), isChatError(413));
    await assert.rejects(writer.chat.sendMessage(""), isChatError(400));
    const ok = await writer.chat.sendMessage("x".repeat(50));
    assert.equal(ok.content.length, 50);
    // The slow room takes one message a second.
    const results = await Promise.allSettled([1, 2, 3].map((i) => hasty.chat.sendMessage(`burst ${i}`)));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results.filter((r) => r.status === "rejected")) assert.ok(isChatError(429)(r.reason), String(r.reason));
    // The connection outlives its errors.
    assert.equal(writer.chat.state, "connected");
  } finally {
    for (const u of [reader, writer, hasty]) u.chat.close();
  }
});

test("close: clientDisconnect, pending requests fail, no more frames", async () => {
  const quiet = new ChatClient({ url: `${SILENT_URL}`, token: async () => ({ token: "t0" }), requestTimeout: 60_000 });
  const seen = watch(quiet);
  quiet.connect();
  await until("connected to the silent server", () => quiet.state === "connected");
  const pending = quiet.sendMessage("never answered");
  quiet.close();
  await assert.rejects(pending, /closed/);
  assert.deepEqual(seen.states, ["connecting", "connected", "disconnected:clientDisconnect"]);
  quiet.close(); // again: nothing more
  assert.equal(seen.states.length, 3);
});

test("a request the server does not answer times out", async () => {
  const quiet = new ChatClient({ url: SILENT_URL, token: async () => ({ token: "t1" }), requestTimeout: 300 });
  quiet.connect();
  await until("connected to the silent server", () => quiet.state === "connected");
  try {
    await assert.rejects(quiet.sendMessage("hello?"), /did not answer in time/);
    assert.equal(quiet.state, "connected");
  } finally {
    quiet.close();
  }
});

test("failures say why: token, refused token, lost socket", async () => {
  const cases = [
    { name: "the token provider fails", url: CHAT_URL, token: async () => { throw new Error("backend down"); }, want: "fetchTokenError" },
    { name: "onair refuses a bad token", url: CHAT_URL, token: async () => ({ token: "not-a-token" }), want: "socketError" },
    { name: "the socket closes abnormally", url: `${SILENT_URL}?close=4000`, token: async () => ({ token: "t2" }), want: "socketError" },
    { name: "the server closes normally", url: `${SILENT_URL}?close=1000`, token: async () => ({ token: "t3" }), want: "serverDisconnect" },
  ];
  for (const c of cases) {
    const chat = new ChatClient({ url: c.url, token: c.token });
    const seen = watch(chat);
    chat.connect();
    await until(c.name, () => seen.states.some((s) => s.startsWith("disconnected")));
    assert.equal(seen.states.at(-1), `disconnected:${c.want}`, c.name);
  }
  // A used token is refused (single-use), also a socketError.
  const tok = await fetchToken("main", "twice", []);
  const first = await connect("main", "twice", [], { token: async () => tok });
  const second = new ChatClient({ url: CHAT_URL, token: async () => tok });
  const seen = watch(second);
  second.connect();
  await until("the second use is refused", () => seen.states.some((s) => s.startsWith("disconnected")));
  assert.equal(seen.states.at(-1), "disconnected:socketError");
  first.chat.close();
});

test("reconnects with a fresh token before the session ends, without a gap", async () => {
  // The token endpoint's sessions last an hour; this client is told each
  // ends in 4 s, so it refreshes every 2 s (refreshBefore 2 s).
  let fetched = 0;
  const token = async () => {
    fetched++;
    const t = await fetchToken("main", "long", ["SEND_MESSAGE"]);
    const soon = new Date(Date.now() + 4000).toISOString();
    return { ...t, sessionExpirationTime: soon, tokenExpirationTime: soon };
  };
  const long = await connect("main", "long", ["SEND_MESSAGE"], { token, refreshBefore: 2000 });
  const other = await connect("main", "other", ["SEND_MESSAGE"]);
  try {
    const before = await other.chat.sendMessage("before the refresh");
    await until("long gets the first message", () => long.seen.messages.some((m) => m.id === before.id));
    // A third token is fetched only once the second connection is open
    // and in use.
    await until("two refreshes", () => fetched >= 3);
    const mine = await long.chat.sendMessage("from the refreshed connection");
    await until("other gets it", () => other.seen.messages.some((m) => m.id === mine.id));
    const after = await other.chat.sendMessage("after the refresh");
    await until("long gets other's message", () => long.seen.messages.some((m) => m.id === after.id));
    for (const id of [before.id, mine.id, after.id]) {
      assert.equal(long.seen.messages.filter((m) => m.id === id).length, 1, "each message once");
    }
    assert.deepEqual(long.seen.states, ["connecting", "connected"], "the refresh is not a reconnection the user sees");
  } finally {
    long.chat.close();
    other.chat.close();
  }
  assert.ok(fetched >= 3);
});
