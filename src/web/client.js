// @ts-check
/**
 * imserver browser client: one logged-in WebSocket session that survives network drops and
 * server restarts. Plain ES module, no dependencies; see docs/WEB_CLIENT.md.
 *
 * - request/reply matched by `seq`, each with a timeout;
 * - heartbeat on the interval the server announces in the login reply;
 * - reconnect with jittered exponential backoff (honouring the server's "retry in N ms" hint);
 * - resume: `lastSeq` + `inboxEpoch` kept in storage per user/app and sent on login, so missed
 *   messages arrive once, in order; pushes with `seq <= lastSeq` are dropped as duplicates.
 *
 * @example
 * ```js
 * const im = new ImClient({ url: "ws://localhost:8089/im", userId: "alice", appId: 101 });
 * im.on("msg", (m) => console.log(m.from, m.msg));
 * await im.connect();
 * await im.sendMsg("bob", "hi");
 * ```
 *
 * @size One dependency-free file that apps copy as is (docs/WEB_CLIENT.md), by design.
 */

/**
 * @typedef {object} MsgPush A message delivered to this user (direct, room or app-wide).
 * @property {string} from sender
 * @property {string} to recipient user, room name or "" (app broadcast)
 * @property {string} target room name, "" for direct messages
 * @property {string} msgId server message id (same for every recipient)
 * @property {number} seq position in this user's inbox
 * @property {number} time server time (ms)
 * @property {string} type message type, "text" by default
 * @property {string} msg body (plain text: never render it as HTML)
 * @property {number} [roomSeq] room messages: position in the room's own timeline (history by room pages by it)
 * @property {boolean} [blocked] room messages from a user this user blocked (a client may hide them)
 * @property {boolean} [recalled] history: the sender recalled it (a tombstone, no `msg`)
 * @property {number} [editedAt] history: when it was last edited (ms): the edit's version, the highest wins
 */

/**
 * @typedef {object} Conversation One item of {@link ImClient.conversations}.
 * @property {string} id `"u:<peer>"` or `"r:<room>"`
 * @property {"direct" | "room"} kind
 * @property {string} [peer] direct conversations: the other user
 * @property {string} [room] room conversations: the room
 * @property {number} time last activity (ms)
 * @property {number} seq inbox seq of its newest message: orders the list and pages it (`before`)
 * @property {number} readSeq this user's read mark (an inbox seq)
 * @property {number} unread messages from others after `readSeq`
 * @property {{msgId: string, seq: number, from: string, msg?: string, type: string, time: number, editedAt?: number, recalled?: boolean}} [last]
 *   the newest message, edits applied (`editedAt` when edited); a recalled one has `recalled: true` and no `msg`
 */

/**
 * Where a typing signal goes: a user id (a 1:1 conversation), `{to}` or `{room}`.
 * @typedef {string | {to: string} | {room: string}} TypingTarget
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} url WebSocket URL, e.g. `ws://host:8089/im`
 * @property {string} userId
 * @property {number} appId
 * @property {string} [token] JWT when the server runs with `auth.mode: jwt`
 * @property {() => string | Promise<string>} [getToken] called for a fresh JWT before each login
 *   and ahead of the token's expiry (sent with `refresh`); takes precedence over `token`
 * @property {string} [deviceId]
 * @property {string} [platform]
 * @property {Storage | null} [storage] where lastSeq/epoch persist (default localStorage; null = memory)
 * @property {number} [requestTimeoutMs] default reply timeout (10 000)
 * @property {number} [sendTimeoutMs] how long `sendMsg`/`roomMsg` keep retrying (30 000)
 * @property {number} [minBackoffMs] first reconnect delay (500)
 * @property {number} [maxBackoffMs] largest reconnect delay (30 000)
 * @property {boolean} [fullResume] with no stored position, replay the whole inbox on the first
 *   login (lastSeq 0) instead of starting at its head; entries up to the login reply's
 *   `ackedSeq` were already seen on another device (default false)
 * @property {number} [ackDelayMs] ack received entries this long after the last one, so other
 *   devices know what was seen (default 1000; 0 = never ack)
 * @property {typeof WebSocket} [WebSocketImpl] for tests or non-browser runtimes
 */

/**
 * Typing state sent to one conversation (see {@link ImClient.typing}).
 * @typedef {object} TypingSlot
 * @property {Record<string, string>} data `{to}` or `{room}`
 * @property {"start" | "stop"} sent the last state sent
 * @property {"start" | "stop"} wanted what the caller asked for last
 * @property {number} at when the last signal went out (ms)
 * @property {any} timer a deferred signal (the server would drop one sent sooner)
 */

/**
 * Close codes after which reconnecting by itself would not help or is not wanted: kicked by a newer login,
 * origin refused, disconnected by an operator (4010).
 */
const TERMINAL_CLOSES = new Set([4000, 4006, 4010]);
/** Close code for an expired token: reconnect only if the app supplies a new token. */
const TOKEN_EXPIRED = 4002;

/** A failed request: `code` is the protocol code (PROTOCOL.md), or 0 for local failures. */
export class ImRequestError extends Error {
  /**
   * @param {number} code
   * @param {string} message
   * @param {unknown} [data]
   */
  constructor(code, message, data) {
    super(message);
    this.name = "ImRequestError";
    this.code = code;
    this.data = data;
  }
}

/**
 * A fresh id for an idempotent send (`clientMsgId`): pass the same one again to resend a message
 * the server may already have (it answers the retry with the first result, `duplicate: true`).
 * `crypto.randomUUID` only exists in secure contexts (https, localhost): plain http falls back.
 */
export function newClientMsgId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

/** Codes of replies worth resending after a while: 1023 rate limited, 1024 unavailable (store down, draining). */
const TRANSIENT_CODES = new Set([1023, 1024]);

/**
 * Pushes that can be inbox entries (PROTOCOL.md §6): when their data has a `seq`, it is this user's
 * inbox position: they replay on resume, are dropped when at or below `lastSeq` and advance it.
 */
const ENTRY_PUSHES = new Set(["msg", "read", "delivered", "msgEdited", "msgRecalled", "msgDeleted"]);

/** The server forwards at most one typing signal per 2 s per conversation and sender (PROTOCOL.md C.5). */
const TYPING_GAP_MS = 2000;
/** A `start` counts for 6 s at the server: renew it after half of that while the user keeps typing. */
const TYPING_RENEW_MS = 3000;

/**
 * Options of a send.
 * @typedef {object} SendOptions
 * @property {string} [clientMsgId] resend with this id (see {@link newClientMsgId}); default a fresh one
 * @property {number} [timeoutMs] give up after this long (default the `sendTimeoutMs` option, 30 000)
 */

/**
 * Connection states, in the order a healthy session goes through them:
 * `idle` → `connecting` → `online`; after a drop `reconnecting` → `connecting` → `online`;
 * `closed` after {@link ImClient.close} or a terminal close code.
 * @typedef {"idle" | "connecting" | "online" | "reconnecting" | "closed"} ClientState
 */

/**
 * The session. Events (use {@link ImClient.on}): `state` (ClientState), `login` (login reply
 * data), `msg` (MsgPush), `enter`, `exit`, `presence`, `read`, `delivered`, `readState`,
 * `msgEdited`, `msgRecalled`, `msgDeleted`, `typing`, `joinRoom`, `leaveRoom`, `kick` (push data),
 * `gap` (an inbox gap: entries were trimmed), `reset` (the server's inbox epoch changed),
 * `closed` ({code, reason}), `retry` ({attempt, delayMs}: the next connection attempt is
 * scheduled), `error` (a failed reconnect or login).
 */
export class ImClient extends EventTarget {
  #seqs = 0;

  /** A request seq in the Go clients' style: `<ms>-<counter>`. */
  #nextSeq() {
    return `${Date.now()}-${++this.#seqs}`;
  }

  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    this.options = options;
    /** @type {ClientState} */
    this.state = "idle";
    /** @type {WebSocket | null} */
    this.socket = null;
    /** Login reply data of the current session. @type {Record<string, any> | null} */
    this.session = null;
    /** @type {Map<string, {resolve: (d: any) => void, reject: (e: Error) => void, timer: any}>} */
    this.pending = new Map();
    this.attempt = 0;
    /** @type {any} */
    this.retryTimer = null;
    /** @type {any} */
    this.heartbeatTimer = null;
    /** @type {any} */
    this.refreshTimer = null;
    /** @type {any} */
    this.ackTimer = null;
    this.ackedSeq = 0;
    /** True while a first-login full replay runs (its leading gap is expected, not news). */
    this.fullReplay = false;
    /** @type {number | null} server retry hint from the last close reason */
    this.retryHintMs = null;
    /** @type {Storage | null} */
    this.storage = options.storage === undefined ? (globalThis.localStorage ?? null) : options.storage;
    this.storageKey = `imserver:${options.appId}:${options.userId}`;
    const saved = this.#load();
    /** Highest inbox seq received (pushes at or below it are duplicates). */
    this.lastSeq = saved.lastSeq;
    /** Inbox epoch the lastSeq belongs to. @type {string | undefined} */
    this.epoch = saved.epoch;
    /** Requests waiting for the next login. @type {Array<{resolve: () => void, reject: (e: Error) => void}>} */
    this.onlineWaiters = [];
    /** Timers of requests waiting to resend (1023/1024); cut short by close(). @type {Set<() => void>} */
    this.sleepers = new Set();
    /** Unread messages over all conversations, from the last login reply (0 if it had none). */
    this.unreadTotal = 0;
    /** Typing state per conversation ("u:<peer>" / "r:<room>"). @type {Map<string, TypingSlot>} */
    this.typingSlots = new Map();
  }

  /**
   * Listen to an event; returns a function that removes the listener.
   * @param {string} type
   * @param {(detail: any) => void} fn
   */
  on(type, fn) {
    /** @param {Event} e */
    const listener = (e) => fn(/** @type {CustomEvent} */ (e).detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /**
   * Open the socket and log in. Resolves with the login reply data; rejects if the first
   * login is refused (bad user id, appId, token). Later drops reconnect by themselves.
   * @returns {Promise<Record<string, any>>}
   */
  connect() {
    if (this.state === "closed") return Promise.reject(new ImRequestError(0, "client closed"));
    return new Promise((resolve, reject) => {
      /** @type {Array<() => void>} */
      let offs = [];
      /** @param {() => void} settle */
      const done = (settle) => {
        for (const off of offs) off();
        offs = [];
        settle();
      };
      offs = [
        this.on("login", (d) => done(() => resolve(d))),
        this.on("error", (e) => {
          // Transport errors and 1023/1024 (busy, draining): keep retrying.
          if (!(e instanceof ImRequestError) || e.code === 0 || TRANSIENT_CODES.has(e.code)) return;
          done(() => reject(e));
        }),
        // close() while still trying (the user cancelled): settle instead of hanging.
        this.on("state", (s) => s === "closed" && done(() => reject(new ImRequestError(0, "client closed")))),
      ];
      this.#open();
    });
  }

  /**
   * Log out, close the socket and stop reconnecting; resolves once the socket is closed.
   * @returns {Promise<void>}
   */
  close() {
    const socket = this.socket;
    this.socket = null;
    if (socket?.readyState === 1) {
      try {
        socket.send(JSON.stringify({ seq: this.#nextSeq(), cmd: "logout", data: {} }));
      } catch {
        // closing anyway
      }
    }
    this.#setState("closed");
    this.#teardown(new ImRequestError(0, "client closed"));
    if (!socket || socket.readyState === 3) return Promise.resolve();
    return new Promise((resolve) => {
      socket.addEventListener("close", () => resolve());
      socket.close(1000, "bye");
    });
  }

  /**
   * Replace the token (jwt mode): used by the next login, and sent with `refresh` now when
   * online (resolves with `{expiresAt}`), so the server does not close the session at expiry.
   * @param {string} token
   */
  async setToken(token) {
    this.options.token = token;
    if (this.state !== "online") return null;
    const reply = await this.request("refresh", { token });
    this.#scheduleRefresh(reply?.expiresAt);
    return reply;
  }

  /**
   * Send a command and resolve with the reply `data` (code 200), or reject with
   * {@link ImRequestError}. With `retry`, a drop before the reply resends the same request
   * after the next login, and a 1023/1024 reply (rate limited, store unavailable, draining)
   * resends it after the reply's `retryMs` (default 1 s), until `timeoutMs` is over; then the
   * last error is thrown. Only safe for idempotent requests, e.g. sends with a clientMsgId.
   * @param {string} cmd
   * @param {Record<string, unknown>} [data]
   * @param {{timeoutMs?: number, retry?: boolean}} [opts]
   * @returns {Promise<any>}
   */
  async request(cmd, data = {}, opts = {}) {
    const deadline = Date.now() + (opts.timeoutMs ?? this.options.requestTimeoutMs ?? 10_000);
    for (;;) {
      if (this.state === "closed") throw new ImRequestError(0, "client closed");
      if (this.state !== "online" && cmd !== "login") {
        if (!opts.retry) throw new ImRequestError(0, `not connected (${this.state})`);
        await this.#waitOnline(deadline);
      }
      try {
        return await this.#roundTrip(cmd, data, deadline - Date.now());
      } catch (error) {
        if (!opts.retry || !(error instanceof ImRequestError) || Date.now() >= deadline) throw error;
        if (error.code === 0 && error.message === "connection lost") continue;
        if (!TRANSIENT_CODES.has(error.code)) throw error;
        // Busy or the store is down: nothing was stored; try again after the server's hint.
        const hint = Number(/** @type {any} */ (error.data)?.retryMs);
        const wait = Math.min(Number.isFinite(hint) && hint > 0 ? hint : 1000, deadline - Date.now());
        if (wait <= 0) throw error;
        await this.#sleep(wait);
        if (Date.now() >= deadline) throw error;
      }
    }
  }

  /**
   * Send a direct message; safe to call while reconnecting. Resent with the same clientMsgId
   * after a drop (once online again) and after a 1023/1024 reply, for up to `sendTimeoutMs`;
   * then it rejects, and calling it again with `opts.clientMsgId` resends without duplicating.
   * Resolves with `{msgId, seq, senderSeq, time, delivered}` (`duplicate: true` on a resend the
   * server already had).
   * @param {string} to
   * @param {string} msg
   * @param {string} [type]
   * @param {SendOptions} [opts]
   */
  async sendMsg(to, msg, type = "text", opts = {}) {
    const data = { to, msg, type, clientMsgId: opts.clientMsgId ?? newClientMsgId() };
    const reply = await this.request("sendMsg", data, { retry: true, timeoutMs: this.#sendTimeout(opts) });
    this.#ownEntry(reply.senderSeq);
    return reply;
  }

  /**
   * Send to a room you are a member of, retried like {@link ImClient.sendMsg}; resolves with
   * `{msgId, seq, time, members}`.
   * @param {string} room
   * @param {string} msg
   * @param {string} [type]
   * @param {SendOptions} [opts]
   */
  async roomMsg(room, msg, type = "text", opts = {}) {
    const data = { room, msg, type, clientMsgId: opts.clientMsgId ?? newClientMsgId() };
    const reply = await this.request("roomMsg", data, { retry: true, timeoutMs: this.#sendTimeout(opts) });
    this.#ownEntry(reply.seq);
    return reply;
  }

  /** @param {string} room */
  joinRoom(room) {
    return this.request("joinRoom", { room });
  }

  /** @param {string} room */
  leaveRoom(room) {
    return this.request("leaveRoom", { room });
  }

  /** Members of a room: `{room, members, online}`. @param {string} room */
  roomMembers(room) {
    return this.request("roomMembers", { room });
  }

  /** Online users of the app: `{userCount, userList}`. */
  users() {
    return this.request("users", {});
  }

  /**
   * Past messages, newest first: `{messages, before, more}`; while `more`, ask again with `before`
   * = the returned `before`. With `peer` they come from this user's inbox and `before` is an inbox
   * seq; with `room` from the room's own timeline (earlier than this user joined, too) and
   * `before` is a `roomSeq`.
   * @param {{peer?: string, room?: string, before?: number, limit?: number}} query
   * @returns {Promise<{messages: MsgPush[], before: number, more: boolean}>}
   */
  history(query) {
    return this.request("history", query);
  }

  /**
   * Mark a conversation read up to the inbox `seq` of its newest message read: resolves with
   * `{conversation, readSeq, unread}`; the other devices get `readState`, the senders a `read`
   * receipt. The old form `read(seq)` marks every conversation read up to `seq` (reply `{seq}`).
   * @param {string | number} conversation `"u:<peer>"` / `"r:<room>"`, or a seq (the old form)
   * @param {number} [seq]
   */
  read(conversation, seq) {
    if (typeof conversation === "number") return this.request("read", { seq: conversation });
    return this.request("read", { conversation, seq });
  }

  /**
   * Conversations, most recent activity first: `{conversations: Conversation[], more}`. Page with
   * `before` = the `seq` of the last item while `more` is true.
   * @param {{limit?: number, before?: number}} [query]
   * @returns {Promise<{conversations: Conversation[], more: boolean}>}
   */
  conversations(query = {}) {
    return this.request("conversations", query);
  }

  /**
   * Change the text of a message you sent (within the server's `im.editWindow`): resolves with
   * `{msgId, editedAt}`; recipients and your other devices get `msgEdited`.
   * @param {string} msgId
   * @param {string} msg
   */
  editMsg(msgId, msg) {
    return this.request("editMsg", { msgId, msg });
  }

  /**
   * Recall a message you sent (within `im.recallWindow`): `{msgId, recalledAt}`; everyone who has
   * it gets `msgRecalled` and sees a tombstone.
   * @param {string} msgId
   */
  recallMsg(msgId) {
    return this.request("recallMsg", { msgId });
  }

  /** Hide a message for this user only (all its devices get `msgDeleted`): `{msgId}`. @param {string} msgId */
  deleteMsg(msgId) {
    return this.request("deleteMsg", { msgId });
  }

  /** Refuse direct messages from `userId`: `{userId, blocked: true}`. @param {string} userId */
  block(userId) {
    return this.request("block", { userId });
  }

  /** Accept direct messages from `userId` again: `{userId, blocked: false}`. @param {string} userId */
  unblock(userId) {
    return this.request("unblock", { userId });
  }

  /** The users this user blocked: `{users}`. @returns {Promise<{users: string[]}>} */
  blocked() {
    return this.request("blocked", {});
  }

  /**
   * Tell a peer or a room that this user is typing (`"start"`, while keys are pressed) or stopped
   * (`"stop"`). Fire and forget, and cheap to call on every key: a `start` goes out at most every
   * 3 s per conversation (the server keeps it for 6 s), no two signals closer than 2 s (the server
   * drops those: a `stop` or `start` asked for sooner is sent when the 2 s are over, if still
   * wanted), a `stop` only after a `start`. Nothing is sent while offline.
   * @param {TypingTarget} target
   * @param {"start" | "stop"} state
   */
  typing(target, state) {
    /** @type {Record<string, string>} */
    const data = typeof target === "string" ? { to: target } : { ...target };
    const key = "room" in data ? `r:${data.room}` : `u:${data.to}`;
    let slot = this.typingSlots.get(key);
    if (!slot) {
      if (state === "stop") return;
      slot = { data, sent: "stop", wanted: state, at: -Infinity, timer: null };
      this.typingSlots.set(key, slot);
    }
    slot.wanted = state;
    if (state === slot.sent && (state === "stop" || Date.now() - slot.at < TYPING_RENEW_MS)) return;
    if (slot.timer) return; // a deferred signal goes out soon and sends what is wanted then
    const wait = slot.at + TYPING_GAP_MS - Date.now();
    if (wait <= 0) this.#sendTyping(slot);
    else slot.timer = setTimeout(() => this.#sendTyping(slot), wait);
  }

  /** Mark inbox entries up to `seq` delivered. */
  ack(/** @type {number} */ seq) {
    return this.request("ack", { seq });
  }

  // ---- internals ----

  /** Send what `slot` wants now, unless it is what was sent (and still fresh). @param {TypingSlot} slot */
  #sendTyping(slot) {
    slot.timer = null;
    const now = Date.now();
    if (slot.wanted === slot.sent && (slot.sent === "stop" || now - slot.at < TYPING_RENEW_MS)) return;
    slot.sent = slot.wanted;
    slot.at = now;
    if (this.state !== "online") return;
    this.request("typing", { ...slot.data, state: slot.sent }).catch(() => {});
  }

  /** @param {SendOptions} opts */
  #sendTimeout(opts) {
    return opts.timeoutMs ?? this.options.sendTimeoutMs ?? 30_000;
  }

  /** Wait `ms`, or less if the client is closed meanwhile. @param {number} ms */
  #sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve(undefined);
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /**
   * The copy of an own message in this user's inbox is not pushed to the sending connection;
   * when it is the next seq, advance lastSeq so a resume does not replay it.
   * @param {unknown} seq
   */
  #ownEntry(seq) {
    if (typeof seq === "number" && seq === this.lastSeq + 1) {
      this.lastSeq = seq;
      this.#save();
    }
  }

  /** @param {number} deadline */
  #waitOnline(deadline) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onlineWaiters = this.onlineWaiters.filter((w) => w !== waiter);
        reject(new ImRequestError(0, "timed out waiting for the connection"));
      }, Math.max(0, deadline - Date.now()));
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve(undefined);
        },
        /** @param {Error} error */
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.onlineWaiters.push(waiter);
    });
  }

  /**
   * @param {string} cmd
   * @param {Record<string, unknown>} data
   * @param {number} timeoutMs
   * @returns {Promise<any>}
   */
  #roundTrip(cmd, data, timeoutMs) {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return Promise.reject(new ImRequestError(0, "connection lost"));
    const seq = this.#nextSeq();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new ImRequestError(0, `${cmd} timed out`));
      }, Math.max(1, timeoutMs));
      this.pending.set(seq, { resolve, reject, timer });
      socket.send(JSON.stringify({ seq, cmd, data }));
    });
  }

  #open() {
    clearTimeout(this.retryTimer);
    globalThis.removeEventListener?.("online", this.#onNetworkBack);
    this.#setState("connecting");
    const Impl = this.options.WebSocketImpl ?? WebSocket;
    let socket;
    try {
      socket = new Impl(this.options.url);
    } catch (error) {
      this.#emit("error", new ImRequestError(0, String(error)));
      this.#scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.#login(socket);
    socket.onmessage = (e) => this.#onFrame(String(e.data));
    socket.onclose = (e) => this.#onClose(socket, e.code, e.reason);
  }

  /** @param {WebSocket} socket */
  async #login(socket) {
    const o = this.options;
    /** @type {Record<string, unknown>} */
    const data = { userId: o.userId, appId: o.appId };
    try {
      const token = o.getToken ? await o.getToken() : o.token;
      if (token) data.token = o.token = token;
    } catch (error) {
      this.#emit("error", new ImRequestError(0, `getToken failed: ${error}`));
      socket.close(1000, "no token");
      return;
    }
    this.fullReplay = false;
    if (o.deviceId) data.deviceId = o.deviceId;
    if (o.platform) data.platform = o.platform;
    if (this.epoch !== undefined) {
      data.lastSeq = this.lastSeq;
      data.epoch = this.epoch;
    } else if (o.fullResume) {
      data.lastSeq = 0;
      this.fullReplay = true;
    }
    let reply;
    try {
      reply = await this.#roundTrip("login", data, o.requestTimeoutMs ?? 10_000);
    } catch (error) {
      this.#emit("error", error);
      // A refused login will be refused again: stop instead of hammering the server.
      if (error instanceof ImRequestError && error.code !== 0 && !TRANSIENT_CODES.has(error.code)) {
        this.#setState("closed");
        this.#teardown(error);
      }
      socket.close(1000, "login failed");
      return;
    }
    if (socket !== this.socket) return;
    const reset = reply.inboxReset === true || (this.epoch !== undefined && this.epoch !== reply.inboxEpoch);
    // The server replays from resumeFrom: everything above it is new to this client.
    this.lastSeq = reply.resumeFrom ?? reply.inboxSeq ?? 0;
    this.epoch = reply.inboxEpoch;
    this.#save();
    this.session = reply;
    this.unreadTotal = Number(reply.unreadTotal) || 0;
    this.ackedSeq = Number(reply.ackedSeq) || 0;
    this.attempt = 0;
    this.retryHintMs = null;
    this.#startHeartbeat(Number(reply.heartbeatInterval) || 30);
    this.#scheduleRefresh(reply.expiresAt);
    this.#setState("online");
    if (reset) this.#emit("reset", reply);
    this.#emit("login", reply);
    for (const w of this.onlineWaiters.splice(0)) w.resolve();
  }

  /** @param {number} seconds */
  #startHeartbeat(seconds) {
    clearInterval(this.heartbeatTimer);
    const socket = this.socket;
    this.heartbeatTimer = setInterval(() => {
      // A heartbeat without a reply means a half-open connection: drop it and reconnect.
      this.#roundTrip("heartbeat", {}, Math.min(seconds * 1000, 15_000)).catch(() => {
        if (socket === this.socket && socket?.readyState === 1) socket.close(4999, "heartbeat lost");
      });
    }, seconds * 1000);
  }

  /**
   * With `getToken`, fetch and send a new token 30 s before `expiresAt` (server ms).
   * @param {unknown} expiresAt
   */
  #scheduleRefresh(expiresAt) {
    clearTimeout(this.refreshTimer);
    const getToken = this.options.getToken;
    if (!getToken || typeof expiresAt !== "number") return;
    const skew = Date.now() - (this.session?.serverTime ?? Date.now());
    const delay = Math.max(1000, expiresAt + skew - Date.now() - 30_000);
    this.refreshTimer = setTimeout(async () => {
      try {
        await this.setToken(await getToken());
      } catch (error) {
        this.#emit("error", error);
      }
    }, delay);
  }

  /** Ack what was received once pushes pause (one ack per burst, not per message). */
  #scheduleAck() {
    const delay = this.options.ackDelayMs ?? 1000;
    if (delay <= 0 || this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const seq = this.lastSeq;
      if (seq <= this.ackedSeq || this.state !== "online") return;
      this.ack(seq).then((r) => this.ackedSeq = Math.max(this.ackedSeq, r?.seq ?? seq), () => {});
    }, delay);
  }

  /** @param {string} text */
  #onFrame(text) {
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object" || !frame.response) return;
    const { seq, cmd, response } = frame;
    const waiter = typeof seq === "string" ? this.pending.get(seq) : undefined;
    if (waiter) {
      this.pending.delete(seq);
      clearTimeout(waiter.timer);
      if (response.code === 200) waiter.resolve(response.data);
      else {waiter.reject(
          new ImRequestError(response.code, response.data?.error ?? response.codeMsg, response.data),
        );}
      return;
    }
    const data = response.data ?? {};
    if (ENTRY_PUSHES.has(cmd) && response.code === 200) {
      if (typeof data.seq === "number") {
        if (data.seq <= this.lastSeq) return; // already seen (replay overlap)
        this.lastSeq = data.seq;
        this.#save();
        this.#scheduleAck();
      }
      this.#emit(cmd, data);
    } else if (cmd === "sync" && response.code === 1016) {
      const expected = this.fullReplay && data.since === 0;
      this.fullReplay = false;
      if (!expected) this.#emit("gap", data);
    } else if (response.code === 200) {
      this.#emit(cmd, data);
    }
  }

  /** @param {WebSocket} socket @param {number} code @param {string} reason */
  #onClose(socket, code, reason) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.session = null;
    this.#teardown(new ImRequestError(0, "connection lost"));
    this.#emit("closed", { code, reason });
    if (this.state === "closed") return;
    const hint = /retry in (\d+) ms/.exec(reason ?? "");
    this.retryHintMs = hint ? Number(hint[1]) : null;
    if (TERMINAL_CLOSES.has(code) || (code === TOKEN_EXPIRED && !this.options.getToken)) {
      this.#setState("closed");
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    if (this.state === "closed") return;
    this.#setState("reconnecting");
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const base = Math.min(max, min * 2 ** this.attempt++);
    // Full jitter on the upper half: thousands of clients dropped together do not return together.
    const delay = Math.max(this.retryHintMs ?? 0, base / 2 + Math.random() * base / 2);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.#open(), delay);
    this.#emit("retry", { attempt: this.attempt, delayMs: Math.round(delay) });
    // The network came back (laptop woke up, Wi-Fi rejoined): no need to sit out the backoff.
    globalThis.addEventListener?.("online", this.#onNetworkBack);
  }

  #onNetworkBack = () => {
    globalThis.removeEventListener?.("online", this.#onNetworkBack);
    // A server's retry hint (drain, rate limit) still wins.
    if (this.state === "reconnecting" && this.retryHintMs === null) this.#open();
  };

  /** Stop timers and fail the requests in flight. @param {Error} error */
  #teardown(error) {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    for (const slot of this.typingSlots.values()) clearTimeout(slot.timer);
    this.typingSlots.clear(); // the peers' indicators expire by themselves
    globalThis.removeEventListener?.("online", this.#onNetworkBack);
    for (const [, w] of this.pending) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    this.pending.clear();
  }

  /** @param {ClientState} state */
  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    if (state === "closed") {
      // Nothing will come online again: fail the requests waiting for it now, not at their deadline.
      const closed = new ImRequestError(0, "client closed");
      for (const w of this.onlineWaiters.splice(0)) w.reject(closed);
      for (const wake of [...this.sleepers]) wake();
    }
    this.#emit("state", state);
  }

  /** @param {string} type @param {unknown} detail */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @returns {{lastSeq: number, epoch: string | undefined}} */
  #load() {
    try {
      const raw = this.storage?.getItem(this.storageKey);
      const v = raw ? JSON.parse(raw) : null;
      if (v && Number.isSafeInteger(v.lastSeq) && typeof v.epoch === "string") return v;
    } catch {
      // unreadable storage: start fresh
    }
    return { lastSeq: 0, epoch: undefined };
  }

  #save() {
    try {
      this.storage?.setItem(this.storageKey, JSON.stringify({ lastSeq: this.lastSeq, epoch: this.epoch }));
    } catch {
      // storage full or blocked: resume still works within this page
    }
  }
}
