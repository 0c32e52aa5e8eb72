// The chat panel of the player page and of the console: onair's own chat
// client (chatclient.ts) connected to onair's messaging WebSocket. A viewer
// reads, and sends once they have chosen a name; a moderator (the console)
// also deletes messages and disconnects users.
import { ChatClient, type ChatMessage, type ChatToken, type DisconnectReason } from "./chatclient";
import { h } from "./dom";

/** onair's messaging URL, on the page's own server. */
export function chatUrl(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/chat`;
}

export interface ChatPanelOptions {
  /**
   * Mints a token for a display name ("": a reader's token, which cannot
   * send). Called for every connection: tokens are single-use.
   */
  token: (name: string) => Promise<ChatToken>;
  /** The name to chat under from the start; none: the panel asks for one. */
  name?: string;
  /** Called when the viewer picks a name, to remember it. */
  onName?: (name: string) => void;
  /** Moderation buttons on every message but the moderator's own. */
  moderator?: { userId: string };
}

export interface ChatPanel {
  el: HTMLElement;
  destroy(): void;
}

const maxShown = 200;

/** What a ChatError carries (sendMessage and the rest reject with it). */
function chatErrorText(err: unknown): string {
  const e = err as { code?: number; message?: string };
  switch (e?.code) {
    case 429:
      return "Slow down: the room's message rate is reached.";
    case 413:
      return "That message is too long for this room.";
    case 406:
      return "The room's moderation did not allow that message.";
    case 403:
      return "You cannot do that in this room.";
  }
  return e?.message ?? String(err);
}

function disconnectText(reason?: DisconnectReason): string {
  switch (reason) {
    case "serverDisconnect":
      return "Disconnected by the server: a moderator removed you, the room was deleted or the session ended.";
    case "fetchTokenError":
      return "Could not get a chat token.";
    case "socketError":
      return "The connection to the chat was lost.";
  }
  return "Disconnected.";
}

export function chatPanel(opts: ChatPanelOptions): ChatPanel {
  const state = h("span", { class: "badge off", "data-testid": "chat-state" }, "Connecting…");
  const list = h("ol", { class: "chat-messages", "data-testid": "chat-messages", "aria-live": "polite", "aria-label": "Chat messages" });
  const error = h("p", { class: "error small", role: "alert", "data-testid": "chat-error" });
  const form = h("form", { class: "chat-form" });
  const reconnect = h("button", { type: "button", class: "small", hidden: true, "data-testid": "chat-reconnect",
    onclick: () => connect() }, "Reconnect");
  const el = h("section", { class: "card chat", "data-testid": "chat" },
    h("div", { class: "chat-head" }, h("h2", {}, "Chat"), h("span", { class: "spacer" }), state, reconnect), list, error, form);

  let name = opts.name ?? "";
  let room: ChatClient | null = null;
  let destroyed = false;
  // Display names by userId, from the messages seen, for notices.
  const names = new Map<string, string>();

  function notice(text: string): void {
    list.append(h("li", { class: "chat-notice", "data-testid": "chat-notice" }, text));
    trim();
  }

  function trim(): void {
    while (list.children.length > maxShown) list.firstElementChild?.remove();
    list.scrollTop = list.scrollHeight;
  }

  function showMessage(m: ChatMessage): void {
    if (list.querySelector(`[data-id="${CSS.escape(m.id)}"]`)) return;
    const who = m.sender.attributes?.displayName || m.sender.userId;
    names.set(m.sender.userId, who);
    const mod = m.sender.attributes?.role === "moderator";
    const li = h("li", { class: "chat-message", "data-testid": "chat-message", "data-id": m.id, "data-user": m.sender.userId },
      h("time", { class: "muted small", datetime: m.sendTime.toISOString() }, m.sendTime.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      " ", h("strong", { class: mod ? "chat-mod" : "" }, who), mod ? h("span", { class: "badge small" }, "mod") : null, " ",
      h("span", { class: "chat-content", "data-testid": "chat-content" }, m.content));
    if (opts.moderator) {
      li.append(h("span", { class: "chat-actions" },
        h("button", { type: "button", class: "small", "data-testid": "chat-delete", title: "Delete this message for everyone",
          onclick: () => act(room?.deleteMessage(m.id, "removed by a moderator")) }, "Delete"),
        m.sender.userId === opts.moderator.userId ? null
          : h("button", { type: "button", class: "small danger", "data-testid": "chat-disconnect", title: `Disconnect ${who}`,
            onclick: () => act(room?.disconnectUser(m.sender.userId, "disconnected by a moderator")) }, "Disconnect")));
    }
    list.append(li);
    trim();
  }

  async function act(p: Promise<unknown> | undefined): Promise<void> {
    error.textContent = "";
    try {
      await p;
    } catch (err) {
      error.textContent = chatErrorText(err);
    }
  }

  function drawForm(): void {
    form.replaceChildren();
    if (!name) {
      const input = h("input", { "aria-label": "Your name", placeholder: "Your name", maxlength: 32, required: true, "data-testid": "chat-name" });
      form.onsubmit = (e) => {
        e.preventDefault();
        const n = input.value.trim();
        if (!n) return;
        name = n;
        opts.onName?.(n);
        drawForm();
        connect(); // again, with a token that may send
      };
      form.append(input, h("button", { type: "submit", "data-testid": "chat-join" }, "Join chat"));
      return;
    }
    const input = h("input", { "aria-label": "Message", placeholder: `Chat as ${name}`, maxlength: 500, autocomplete: "off", "data-testid": "chat-input" });
    form.onsubmit = async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text || !room) return;
      error.textContent = "";
      try {
        await room.sendMessage(text);
        input.value = "";
      } catch (err) {
        error.textContent = chatErrorText(err);
      }
    };
    form.append(input, h("button", { type: "submit", "data-testid": "chat-send" }, "Send"));
  }

  function setState(text: string, kind: string): void {
    state.textContent = text;
    state.className = `badge ${kind}`;
  }

  function connect(): void {
    const old = room;
    room = null; // its disconnect is not news
    old?.close();
    reconnect.hidden = true;
    error.textContent = "";
    const forName = name;
    const r = new ChatClient({ url: chatUrl(), token: () => opts.token(forName) });
    r.on("state", (s, reason) => {
      if (s === "connecting") setState("Connecting…", "off");
      else if (s === "connected") setState("Connected", "ok-badge");
      else {
        if (room !== r || destroyed) return;
        setState("Disconnected", "warn");
        if (reason !== "clientDisconnect") notice(disconnectText(reason));
        reconnect.hidden = false;
      }
    });
    r.on("message", showMessage);
    r.on("deleteMessage", (e) => list.querySelector(`[data-id="${CSS.escape(e.messageId)}"]`)?.remove());
    r.on("disconnectUser", (e) => notice(`${names.get(e.userId) ?? e.userId} was disconnected by a moderator.`));
    room = r;
    r.connect();
  }

  drawForm();
  connect();
  return {
    el,
    destroy() {
      destroyed = true;
      room?.close();
      room = null;
    },
  };
}
