// onair's own client for IVS Chat's messaging WebSocket, written from the
// protocol (docs/chat.md, internal/chat): the token is the WebSocket
// subprotocol; requests carry a RequestId that the server echoes on the
// MESSAGE or EVENT they cause, or on an ERROR; a close with code 1000 is the
// server ending the session. It has no dependency, so it also runs in Node
// (web/e2e/chatclient.mjs drives it against onair there).

/** What CreateChatToken answers (times as ISO strings or Dates). */
export interface ChatToken {
  token: string;
  sessionExpirationTime?: string | Date;
  tokenExpirationTime?: string | Date;
}

export type ChatState = "connecting" | "connected" | "disconnected";

/**
 * Why the client is disconnected: close() was called, the server ended the
 * session (DisconnectUser, a deleted room, its end), the token provider
 * failed, or the connection failed or was lost.
 */
export type DisconnectReason = "clientDisconnect" | "serverDisconnect" | "fetchTokenError" | "socketError";

export interface ChatSender {
  userId: string;
  attributes: Record<string, string>;
}

export interface ChatMessage {
  id: string;
  /** The sender's RequestId (every client sees it). */
  requestId?: string;
  content: string;
  attributes: Record<string, string>;
  sendTime: Date;
  sender: ChatSender;
}

export interface ChatEvent {
  id: string;
  requestId?: string;
  eventName: string;
  attributes: Record<string, string>;
  sendTime: Date;
}

/** An aws:DELETE_MESSAGE event. */
export interface DeleteMessageEvent extends ChatEvent {
  messageId: string;
  reason?: string;
}

/** An aws:DISCONNECT_USER event. */
export interface DisconnectUserEvent extends ChatEvent {
  userId: string;
  reason?: string;
}

/** An ERROR frame answering a request: IVS's code (400, 403, 413, 429…) and message. */
export class ChatError extends Error {
  readonly code: number;
  readonly requestId: string;
  constructor(code: number, message: string, requestId: string) {
    super(message);
    this.name = "ChatError";
    this.code = code;
    this.requestId = requestId;
  }
}

export interface ChatClientEvents {
  state: (state: ChatState, reason?: DisconnectReason) => void;
  message: (m: ChatMessage) => void;
  /** Custom events (SendEvent); the two system events have their own. */
  event: (e: ChatEvent) => void;
  deleteMessage: (e: DeleteMessageEvent) => void;
  disconnectUser: (e: DisconnectUserEvent) => void;
}

export interface ChatClientOptions {
  /** ws(s)://host/chat */
  url: string;
  /** A fresh token for every connection: tokens are single-use. */
  token: () => Promise<ChatToken>;
  /** How long a request waits for its answer (ms); 10 s. */
  requestTimeout?: number;
  /** How long before the session expires the client reconnects with a fresh token (ms); 60 s. */
  refreshBefore?: number;
}

interface Pending {
  resolve: (v: never) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

// Frame ids remembered to drop duplicates, which arrive while two sockets
// overlap during a token refresh.
const seenCap = 512;

export class ChatClient {
  state: ChatState = "disconnected";
  private readonly opts: Required<ChatClientOptions>;
  private ws: WebSocket | null = null;
  // Bumped by connect and close: a token or socket of an older attempt is dropped.
  private attempt = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly seen = new Set<string>();
  private readonly listeners = new Map<keyof ChatClientEvents, Set<(...args: never[]) => void>>();

  constructor(opts: ChatClientOptions) {
    this.opts = { requestTimeout: 10_000, refreshBefore: 60_000, ...opts };
  }

  /** Adds a listener; the function returned removes it. */
  on<K extends keyof ChatClientEvents>(name: K, fn: ChatClientEvents[K]): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  private emit<K extends keyof ChatClientEvents>(name: K, ...args: Parameters<ChatClientEvents[K]>): void {
    for (const fn of this.listeners.get(name) ?? []) (fn as (...a: unknown[]) => void)(...args);
  }

  /** Connects (again) with a fresh token. */
  connect(): void {
    this.drop();
    const attempt = ++this.attempt;
    this.setState("connecting");
    this.opts.token().then(
      (tok) => {
        if (attempt !== this.attempt) return;
        this.open(tok, attempt, () => this.end(attempt, "socketError"));
      },
      () => this.end(attempt, "fetchTokenError"),
    );
  }

  /** Closes the connection; pending requests fail. */
  close(): void {
    const was = this.state;
    this.attempt++;
    this.drop();
    if (was !== "disconnected") this.setState("disconnected", "clientDisconnect");
  }

  sendMessage(content: string, attributes?: Record<string, string>): Promise<ChatMessage> {
    return this.request({ Action: "SEND_MESSAGE", Content: content, Attributes: attributes });
  }

  deleteMessage(id: string, reason?: string): Promise<DeleteMessageEvent> {
    return this.request({ Action: "DELETE_MESSAGE", Id: id, Reason: reason });
  }

  disconnectUser(userId: string, reason?: string): Promise<DisconnectUserEvent> {
    return this.request({ Action: "DISCONNECT_USER", UserId: userId, Reason: reason });
  }

  private request<T>(body: Record<string, unknown>): Promise<T> {
    const ws = this.ws;
    if (this.state !== "connected" || !ws) return Promise.reject(new Error("the chat is not connected"));
    const id = randomId();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error("the chat server did not answer in time"));
      }, this.opts.requestTimeout);
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject, timer });
      ws.send(JSON.stringify({ ...body, RequestId: id }));
    });
  }

  // open starts a socket with tok; the client switches to it once it is
  // open. failed is called if it never opens.
  private open(tok: ChatToken, attempt: number, failed: () => void): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.opts.url, tok.token);
    } catch {
      failed();
      return;
    }
    let opened = false;
    let done = false;
    // A failed handshake fires error, then close (Node 20's WebSocket
    // fires only error); a lost connection may fire both as well.
    const lost = (code?: number): void => {
      if (done) return;
      done = true;
      if (!opened) {
        if (ws.readyState === WebSocket.CONNECTING) ws.close();
        if (attempt === this.attempt) failed();
      } else if (ws === this.ws && attempt === this.attempt) {
        this.end(attempt, code === 1000 ? "serverDisconnect" : "socketError");
      }
    };
    ws.onopen = () => {
      if (attempt !== this.attempt) {
        ws.close(1000);
        return;
      }
      opened = true;
      const old = this.ws;
      this.ws = ws;
      old?.close(1000); // a refresh: the new socket already gets the room's frames
      if (this.state !== "connected") this.setState("connected");
      this.scheduleRefresh(tok, attempt);
    };
    ws.onmessage = (e) => {
      if (attempt === this.attempt && typeof e.data === "string") this.frame(e.data);
    };
    ws.onerror = () => lost();
    ws.onclose = (e) => lost(e.code);
  }

  // scheduleRefresh reconnects with a fresh token before the session ends
  // (refreshBefore, but not before half of what is left, so that a short
  // session does not reconnect in a loop). A failed refresh keeps the
  // current socket and tries again.
  private scheduleRefresh(tok: ChatToken, attempt: number): void {
    clearTimeout(this.refreshTimer);
    // The server ends the connection at the session's expiry (the token's is the same).
    const expiry = new Date(tok.sessionExpirationTime ?? tok.tokenExpirationTime ?? NaN).getTime();
    if (Number.isNaN(expiry)) return;
    const left = expiry - Date.now();
    const refresh = (): void => {
      if (attempt !== this.attempt || Date.now() >= expiry) return;
      const retry = () => {
        if (attempt === this.attempt && expiry - Date.now() > 10_000) this.refreshTimer = setTimeout(refresh, 5_000);
      };
      this.opts.token().then((t) => attempt === this.attempt && this.open(t, attempt, retry), retry);
    };
    this.refreshTimer = setTimeout(refresh, Math.max(left - this.opts.refreshBefore, left / 2, 0));
  }

  private end(attempt: number, reason: DisconnectReason): void {
    if (attempt !== this.attempt) return;
    this.attempt++;
    this.drop();
    this.setState("disconnected", reason);
  }

  // drop lets go of the socket, the refresh and the pending requests.
  private drop(): void {
    clearTimeout(this.refreshTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState < 2) ws.close(1000);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error("the chat connection closed"));
      this.pending.delete(id);
    }
  }

  private setState(s: ChatState, reason?: DisconnectReason): void {
    this.state = s;
    this.emit("state", s, reason);
  }

  private frame(data: string): void {
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(data);
    } catch {
      return; // not the protocol: nothing to do with it
    }
    const id = str(f.Id);
    if (id) {
      if (this.seen.has(id)) return;
      this.seen.add(id);
      if (this.seen.size > seenCap) this.seen.delete(this.seen.values().next().value!);
    }
    const requestId = str(f.RequestId) || undefined;
    const sendTime = new Date(str(f.SendTime));
    const attributes = strMap(f.Attributes);
    let value: ChatMessage | ChatEvent;
    switch (f.Type) {
      case "MESSAGE": {
        const s = (f.Sender ?? {}) as Record<string, unknown>;
        const m: ChatMessage = { id, requestId, content: str(f.Content), attributes, sendTime,
          sender: { userId: str(s.UserId), attributes: strMap(s.Attributes) } };
        this.emit("message", m);
        value = m;
        break;
      }
      case "EVENT": {
        const e: ChatEvent = { id, requestId, eventName: str(f.EventName), attributes, sendTime };
        if (e.eventName === "aws:DELETE_MESSAGE") {
          const d: DeleteMessageEvent = { ...e, messageId: attributes.MessageId ?? attributes.MessageID ?? "", reason: attributes.Reason };
          this.emit("deleteMessage", d);
          value = d;
        } else if (e.eventName === "aws:DISCONNECT_USER") {
          const d: DisconnectUserEvent = { ...e, userId: attributes.UserId ?? "", reason: attributes.Reason };
          this.emit("disconnectUser", d);
          value = d;
        } else {
          this.emit("event", e);
          value = e;
        }
        break;
      }
      case "ERROR": {
        const p = requestId && this.pending.get(requestId);
        if (p) {
          this.settle(requestId);
          p.reject(new ChatError(Number(f.ErrorCode), str(f.ErrorMessage), requestId));
        }
        return;
      }
      default:
        return;
    }
    const p = requestId && this.pending.get(requestId);
    if (p) {
      this.settle(requestId);
      p.resolve(value as never);
    }
  }

  private settle(requestId: string): void {
    clearTimeout(this.pending.get(requestId)?.timer);
    this.pending.delete(requestId);
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

// randomId is a RequestId: every client in a room sees the others' ids on
// their messages, so they must not collide. crypto.randomUUID needs a
// secure context, which a player page on plain http is not.
function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}
