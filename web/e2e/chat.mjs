// IVS's own chat client library (amazon-ivs-chat-messaging) against onair's
// messaging WebSocket, with node:test. Run by test/e2e TestChatWithIVSClientLibrary,
// which starts onair and a token endpoint (as an app's backend would be):
//   CHAT_URL   ws://host:port/chat
//   TOKEN_URL  http://host:port/token?room=main|slow&user=…&caps=A,B
import { test } from "node:test";
import assert from "node:assert/strict";
import { ChatRoom, SendMessageRequest, DeleteMessageRequest, DisconnectUserRequest } from "amazon-ivs-chat-messaging";

const { CHAT_URL, TOKEN_URL } = process.env;
assert.ok(CHAT_URL && TOKEN_URL, "CHAT_URL and TOKEN_URL are required");

const quiet = { debug() {}, info() {}, error() {} };

// connect joins a room as user with capabilities and resolves once
// connected; events are recorded on the returned object.
async function connect(room, user, caps = []) {
  const chat = new ChatRoom({
    regionOrUrl: CHAT_URL,
    tokenProvider: async () => {
      const u = `${TOKEN_URL}?room=${room}&user=${encodeURIComponent(user)}&caps=${caps.join(",")}`;
      const res = await fetch(u);
      if (!res.ok) throw new Error(`token endpoint: ${res.status}`);
      return res.json();
    },
  });
  chat.logger = quiet;
  chat.logLevel = "error";
  const seen = { messages: [], deletes: [], userDisconnects: [], disconnects: [] };
  chat.addListener("message", (m) => seen.messages.push(m));
  chat.addListener("messageDelete", (e) => seen.deletes.push(e));
  chat.addListener("userDisconnect", (e) => seen.userDisconnects.push(e));
  chat.addListener("disconnect", (reason) => seen.disconnects.push(reason));
  const connected = new Promise((resolve, reject) => {
    chat.addListener("connect", resolve);
    chat.addListener("disconnect", (reason) => reject(new Error(`${user} disconnected while connecting: ${reason}`)));
  });
  chat.connect();
  await connected;
  return { chat, seen };
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

test("two users exchange messages, one deletes, a moderator disconnects", async () => {
  const ana = await connect("main", "ana", ["SEND_MESSAGE", "DELETE_MESSAGE"]);
  const bob = await connect("main", "bob", ["SEND_MESSAGE"]);
  const mod = await connect("main", "mod", ["DISCONNECT_USER"]);
  try {
    const sent = await ana.chat.sendMessage(new SendMessageRequest("hello from ana", { mood: "happy" }));
    assert.equal(sent.content, "hello from ana");
    assert.equal(sent.sender.userId, "ana");
    await until("bob gets ana's message", () => bob.seen.messages.some((m) => m.id === sent.id));
    const got = bob.seen.messages.find((m) => m.id === sent.id);
    assert.equal(got.attributes.mood, "happy");
    assert.equal(got.sender.attributes.display, "ANA");
    assert.ok(got.sendTime instanceof Date && !isNaN(got.sendTime));

    const reply = await bob.chat.sendMessage(new SendMessageRequest("hi ana"));
    await until("ana gets bob's reply", () => ana.seen.messages.some((m) => m.id === reply.id));

    const del = await ana.chat.deleteMessage(new DeleteMessageRequest(reply.id, "off topic"));
    assert.equal(del.messageId, reply.id);
    await until("bob sees the delete", () => bob.seen.deletes.some((e) => e.messageId === reply.id && e.reason === "off topic"));

    const kick = await mod.chat.disconnectUser(new DisconnectUserRequest("bob", "be nice"));
    assert.equal(kick.userId, "bob");
    await until("ana sees bob disconnected", () => ana.seen.userDisconnects.some((e) => e.userId === "bob" && e.reason === "be nice"));
    // A clean close: the library does not reconnect.
    await until("bob's session ends", () => bob.seen.disconnects.includes("serverDisconnect"));
    assert.equal(bob.chat.state, "disconnected");
  } finally {
    for (const u of [ana, bob, mod]) u.chat.disconnect();
  }
});

test("limits and capabilities are IVS's errors", async () => {
  const reader = await connect("main", "reader", []);
  const writer = await connect("main", "writer", ["SEND_MESSAGE"]);
  const hasty = await connect("slow", "hasty", ["SEND_MESSAGE"]);
  try {
    await assert.rejects(reader.chat.sendMessage(new SendMessageRequest("may I?")), (e) => e.errorCode === 403);
    await assert.rejects(writer.chat.sendMessage(new SendMessageRequest("x".repeat(51))), (e) => e.errorCode === 413);
    const ok = await writer.chat.sendMessage(new SendMessageRequest("x".repeat(50)));
    assert.equal(ok.content.length, 50);
    // The slow room takes one message a second.
    const results = await Promise.allSettled([1, 2, 3].map((i) => hasty.chat.sendMessage(new SendMessageRequest(`burst ${i}`))));
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    for (const r of results.filter((r) => r.status === "rejected")) assert.equal(r.reason.errorCode, 429);
  } finally {
    for (const u of [reader, writer, hasty]) u.chat.disconnect();
  }
});
