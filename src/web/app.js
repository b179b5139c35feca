// No `// @ts-check` pragma on purpose: the project-wide `deno check` has no DOM lib (adding one
// would change global types for every file). tests/browser/web_client_test.ts type-checks this page with
// `checkJs` and the DOM lib instead.
/**
 * The chat page: login, online users, 1:1 chats, rooms, unread counts and read receipts, on
 * top of client.js. Message text is only ever assigned with textContent (never innerHTML).
 *
 * @size The page controller; the chat-app rewrite splits it into views.
 */
import { ImClient, ImRequestError, newClientMsgId } from "./client.js";
import * as view from "./view.js";

/** @typedef {import("./view.js").Line} Line */

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const PENDING = 2 ** 52;
const MAX_LINES = 500;

/** @type {ImClient | null} */
let im = null;
let me = "";
let epochIndex = 0;
/** @type {string} active conversation: "u:<peer>", "r:<room>", "all" or "" */
let active = "";
/** @type {Map<string, Line[]>} */
const convs = new Map();
/** @type {Map<string, number>} */
const unread = new Map();
/** msgIds already shown (dedupe across replays, history and other devices). */
const seen = new Set();
/** Own direct messages by msgId, to mark read receipts. @type {Map<string, Line>} */
const ownByMsgId = new Map();
const online = new Set();
/** Rooms this user is a member of (remembered in localStorage). @type {Set<string>} */
let rooms = new Set();
/**
 * Members each room is known to have (from roomMembers and join/leave pushes). A join push for
 * someone already known is the restoration of a membership the server lost (memory store
 * restart, rejoined on login), not a real join: no "X joined" line for it.
 * @type {Map<string, Set<string>>}
 */
const knownMembers = new Map();
/** Own sends not acknowledged yet (pending or failed), by clientMsgId, in send order. @type {Map<string, Line>} */
const outbox = new Map();
/** No login of this page completed yet (the first one checks the remembered rooms). */
let firstLogin = true;
/** The server's state may be gone (new inbox epoch, or no stored one): rejoin remembered rooms. */
let rejoinNeeded = false;
const historyLoaded = new Set();
let readSent = 0;
/** Inbox entries up to this seq were acked (seen) by some device before this login. */
let seenUpTo = 0;
let localKeys = 0;
/** @type {{wsUrl?: string | null, wsPort: number, wsPath: string, authMode: string}} */
let config = { wsPort: 8089, wsPath: "/im", authMode: "none" };

const roomsKey = () => `imserver-rooms:${im?.options.appId}:${me}`;
const membersOf = (/** @type {string} */ room) =>
  knownMembers.get(room) ?? knownMembers.set(room, new Set()).get(room) ?? new Set();
const lines = (/** @type {string} */ conv) => convs.get(conv) ?? convs.set(conv, []).get(conv) ?? [];

/** The conversation a message belongs to. @param {import("./client.js").MsgPush} m */
function convOf(m) {
  if (m.target) return `r:${m.target}`;
  if (m.to === "") return "all";
  return `u:${m.from === me ? m.to : m.from}`;
}

/** @param {string} conv @param {Line} line @param {boolean} [news] counts as unread when not in view */
function addLine(conv, line, news = !line.mine && line.status !== "event") {
  const list = lines(conv);
  list.push(line);
  list.sort((a, b) => a.order - b.order);
  if (list.length > MAX_LINES) list.splice(0, list.length - MAX_LINES);
  if (conv === active) renderMessages();
  else if (news) unread.set(conv, (unread.get(conv) ?? 0) + 1);
  renderLists();
}

/** @param {import("./client.js").MsgPush} m @param {boolean} fromHistory */
function onMessage(m, fromHistory = false) {
  if (seen.has(m.msgId)) return;
  seen.add(m.msgId);
  const mine = m.from === me;
  const line = {
    key: m.msgId,
    from: m.from,
    text: String(m.msg),
    time: m.time,
    order: epochIndex * 2 ** 40 + (m.seq ?? 0),
    mine,
    status: /** @type {Line["status"]} */ (mine ? "sent" : ""),
    seq: m.seq ?? 0,
  };
  if (mine && !m.target) ownByMsgId.set(m.msgId, line);
  const conv = convOf(m);
  if (fromHistory) {
    lines(conv).push(line);
    return;
  }
  addLine(conv, line, !mine && !(line.seq > 0 && line.seq <= seenUpTo));
  if (conv === active) markRead();
}

/** Tell the server the active conversation was read (its senders get a receipt). */
function markRead() {
  if (!im || im.state !== "online" || document.visibilityState === "hidden") return;
  const top = Math.max(0, ...lines(active).filter((l) => !l.mine && l.seq).map((l) => l.seq));
  if (top > readSent) {
    readSent = top;
    im.read(top).catch(() => readSent = 0);
  }
}

/** @param {string} conv */
async function openConversation(conv) {
  active = conv;
  unread.delete(conv);
  const [kind, name] = [conv.slice(0, 1), conv.slice(2)];
  $("room-members").hidden = true;
  renderConvHead();
  renderMessages();
  renderLists();
  if (!$("composer-text").disabled) $("composer-text").focus();
  if (im && conv !== "all" && !historyLoaded.has(conv)) {
    historyLoaded.add(conv);
    try {
      const h = await im.history(kind === "r" ? { room: name, limit: 50 } : { peer: name, limit: 50 });
      for (const m of h.messages) onMessage(m, true);
      lines(conv).sort((a, b) => a.order - b.order);
      if (conv === active) renderMessages();
    } catch {
      historyLoaded.delete(conv);
    }
  }
  markRead();
}

/**
 * Title, room actions and composer of the active conversation. A room this user is no longer a
 * member of (left here or on another device) stays readable, with the composer disabled.
 */
function renderConvHead() {
  const [kind, name] = [active.slice(0, 1), active.slice(2)];
  const left = kind === "r" && !rooms.has(name);
  $("chat-title").textContent = active === "all"
    ? "Everyone"
    : kind === "r"
    ? `# ${name}`
    : name || "Pick someone to chat with";
  $("room-actions").hidden = kind !== "r" || left;
  if (left) $("room-members").hidden = true;
  $("conv-note").hidden = !left;
  $("conv-note").textContent = left ? "You left this room. Join it again to send messages." : "";
  $("composer-text").disabled = $("composer-send").disabled = !active || active === "all" || left;
  $("composer-text").placeholder = left ? "You left this room" : "Message";
}

function renderMessages() {
  view.renderMessages($("messages"), lines(active), (line) => deliver(line));
}

function renderLists() {
  const peers = new Set(online);
  for (const conv of convs.keys()) if (conv.startsWith("u:")) peers.add(conv.slice(2));
  peers.delete(me);
  const common = { active, unread, online, onOpen: openConversation };
  view.renderList($("users"), [...peers].sort().map((p) => ({ name: p, conv: `u:${p}` })), "peer", common);
  const roomItems = [...rooms].sort().map((r) => ({ name: r, conv: `r:${r}` }));
  if (convs.has("all")) roomItems.unshift({ name: "", conv: "all" });
  view.renderList($("rooms"), roomItems, "room", common);
}

/** @param {string} room @param {string} text @param {number} time */
function roomEvent(room, text, time) {
  // After every line shown so far (stable sort keeps consecutive events in arrival order).
  const last = Math.max(
    epochIndex * 2 ** 40,
    ...lines(`r:${room}`).map((l) => l.order).filter((o) => o < PENDING),
  );
  addLine(`r:${room}`, {
    key: `e${++localKeys}`,
    from: "",
    text,
    time,
    order: Math.floor(last) + 0.5,
    mine: false,
    status: "event",
    seq: 0,
  });
}

/** @param {string} state */
function showState(state) {
  view.showState($("conn-state"), state);
}

/** The WebSocket URL: `app.webSocketUrl` when set, else this host on the bound WebSocket port. */
function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  if (!config.wsUrl) return `${scheme}://${location.hostname}:${config.wsPort}${config.wsPath}`;
  return config.wsUrl.includes("://") ? config.wsUrl : `${scheme}://${config.wsUrl}${config.wsPath}`;
}

/** Lock the login form while a connection attempt runs (Cancel shown), or unlock it. */
function loginBusy(/** @type {boolean} */ busy) {
  for (const id of ["login-user", "login-app", "login-token", "login-submit"]) $(id).disabled = busy;
  $("login-cancel").hidden = !busy;
  if (!busy) $("login-status").textContent = "";
}

/**
 * The login form's line while the first connection is being retried.
 * @param {{attempt: number, delayMs: number}} retry
 * @param {Error | null} lastError the failed login of this attempt, if it got that far
 */
function retryText({ attempt, delayMs }, lastError) {
  const next = `attempt ${attempt}, next in ${Math.max(1, Math.round(delayMs / 1000))} s`;
  if (lastError instanceof ImRequestError && lastError.code !== 0) {
    return `Server busy (${lastError.code}: ${lastError.message}) — retrying… (${next})`;
  }
  return `Cannot reach the server — retrying… (${next})`;
}

/**
 * @param {unknown} error why connect() failed
 * @param {{code: number, reason: string} | null} lastClose
 */
function loginErrorText(error, lastClose) {
  const e = /** @type {Error} */ (error);
  if (e instanceof ImRequestError && e.code !== 0) return `Login failed (${e.code}): ${e.message}`;
  if (lastClose) {
    return `Login failed: connection closed (${lastClose.code}${
      lastClose.reason ? `: ${lastClose.reason}` : ""
    })`;
  }
  return `Login failed: ${e.message}`;
}

async function login(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  if (im) return; // an attempt is under way: Cancel stops it
  $("login-error").textContent = "";
  const userId = $("login-user").value.trim();
  const appId = Number($("login-app").value);
  const client = new ImClient({
    url: wsUrl(),
    userId,
    appId,
    token: $("login-token").value.trim() || undefined,
    fullResume: true, // a new browser shows the recent inbox, not an empty page
  });
  im = client;
  me = userId;
  firstLogin = true;
  // No stored inbox position: nothing tells whether the remembered rooms survived on the server.
  rejoinNeeded = client.epoch === undefined;
  loginBusy(true);
  $("login-status").textContent = "Connecting…";
  client.on("state", showState);
  /** @type {{code: number, reason: string} | null} */
  let lastClose = null;
  /** @type {Error | null} */
  let lastError = null;
  client.on("closed", (d) => lastClose = d);
  client.on("error", (e) => lastError = e);
  client.on("state", (state) => {
    if (state === "connecting") lastError = null;
    // A terminal close (kicked, token expired, login refused on reconnect) ends the session.
    if (state === "closed" && lastClose && !$("chat-view").hidden && !$("chat-error").textContent) {
      const { code, reason } = lastClose;
      showError(`Disconnected (${code}${reason ? `: ${reason}` : ""}). Log out to sign in again.`);
    }
  });
  client.on("retry", (r) => {
    if (im === client && !$("login-view").hidden) $("login-status").textContent = retryText(r, lastError);
  });
  client.on("msg", (m) => onMessage(m));
  client.on("enter", (d) => {
    online.add(d.from);
    renderLists();
  });
  client.on("exit", (d) => {
    online.delete(d.from);
    renderLists();
  });
  client.on("read", (d) => {
    for (const id of d.msgIds ?? []) {
      const line = ownByMsgId.get(id);
      if (line) line.status = "read";
    }
    if (active.startsWith("u:")) renderMessages();
  });
  client.on("joinRoom", (d) => {
    const members = membersOf(d.room);
    const known = members.has(d.from);
    members.add(d.from);
    // Own joins (this tab or another device) add the room; no line for them.
    if (d.from === me) rememberRoom(d.room);
    else if (!known) roomEvent(d.room, `${d.from} joined`, d.time);
  });
  client.on("leaveRoom", (d) => {
    knownMembers.get(d.room)?.delete(d.from);
    if (d.from === me) forgetRoom(d.room);
    else roomEvent(d.room, `${d.from} left`, d.time);
  });
  client.on("kick", () => showError("Signed in elsewhere: this session was closed."));
  client.on("gap", (d) => showError(`${d.lost} older message(s) expired before delivery.`));
  client.on("reset", () => {
    epochIndex++;
    readSent = 0;
    historyLoaded.clear();
    rejoinNeeded = true; // the server lost its store: room membership too
  });
  client.on("login", (d) => {
    seenUpTo = Number(d.ackedSeq) || 0;
    afterLogin(client);
  });
  try {
    await client.connect();
  } catch (error) {
    if (im !== client) return; // cancelled
    im = null;
    client.close();
    loginBusy(false);
    $("login-error").textContent = loginErrorText(error, lastClose);
    return;
  }
  if (im !== client) return;
  loginBusy(false);
  sessionStorage.setItem("imserver-last", JSON.stringify({ userId, appId }));
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("logout").hidden = false;
  $("me").textContent = `${userId} · app ${appId}`;
}

/** Stop a connection attempt that has not logged in yet; the form is editable again. */
function cancelLogin() {
  const client = im;
  im = null;
  loginBusy(false);
  client?.close();
  $("login-user").focus();
}

/**
 * After every (re)login: rejoin the remembered rooms if the server may have lost them, resend
 * failed sends, refresh the online list. Room membership is per user and survives reconnects,
 * so a plain reconnect rejoins nothing (and makes no "X joined" noise).
 * @param {ImClient} client
 */
async function afterLogin(client) {
  if (im !== client) return;
  const first = firstLogin;
  firstLogin = false;
  if (first) rooms = loadRooms();
  const rejoin = rejoinNeeded;
  rejoinNeeded = false;
  // Sent in this turn, before the sends the client resends after this login: the server handles
  // a connection's frames in order, so the rooms exist again before those messages reach them.
  const joins = rejoin ? [...rooms].map((room) => rejoinRoom(client, room)) : [];
  for (const line of outbox.values()) if (line.status === "failed" && line.transient) deliver(line);
  try {
    await Promise.all(joins);
    // A new page: learn who is in each room, and drop rooms left on another device meanwhile.
    if (first) await Promise.all([...rooms].map((room) => loadMembers(client, room, true)));
    const { userList } = await client.users();
    online.clear();
    for (const u of userList) online.add(u);
  } catch {
    // dropped again; the next login retries
  }
  renderLists();
  renderConvHead();
  markRead();
}

/** @param {ImClient} client @param {string} room */
async function rejoinRoom(client, room) {
  try {
    await client.joinRoom(room);
  } catch (error) {
    if (error instanceof ImRequestError && error.code !== 0) forgetRoom(room); // 1021/1022: too many, full
    else rejoinNeeded = true; // connection lost: the next login tries again
  }
}

/**
 * Fetch the room's members into knownMembers; with `check`, forget the room when this user is
 * not one of them (it left on another device).
 * @param {ImClient} client @param {string} room @param {boolean} [check]
 */
async function loadMembers(client, room, check = false) {
  try {
    const { members } = await client.roomMembers(room);
    const known = membersOf(room);
    for (const m of members) known.add(m);
    if (check && !members.includes(me)) forgetRoom(room);
  } catch (error) {
    if (check && error instanceof ImRequestError && error.code === 1018) forgetRoom(room); // no members
  }
}

/** @returns {Set<string>} */
function loadRooms() {
  try {
    return new Set(JSON.parse(localStorage.getItem(roomsKey()) ?? "[]"));
  } catch {
    return new Set();
  }
}

function saveRooms() {
  localStorage.setItem(roomsKey(), JSON.stringify([...rooms]));
}

/** This user is a member of `room` (joined here or on another device). @param {string} room */
function rememberRoom(room) {
  if (!rooms.has(room)) {
    rooms.add(room);
    saveRooms();
  }
  renderLists();
  if (active === `r:${room}`) renderConvHead();
}

/**
 * This user left `room` (here or on another device): out of the sidebar and the remembered
 * rooms; if it is open, it stays readable with the composer disabled.
 * @param {string} room
 */
function forgetRoom(room) {
  rooms.delete(room);
  knownMembers.delete(room);
  saveRooms();
  renderLists();
  if (active === `r:${room}`) renderConvHead();
}

/** @param {string} text */
function showError(text) {
  $("chat-error").textContent = text;
}

/** Own sends in flight, by clientMsgId (a line is never sent twice at once). */
const sending = new Set();

/**
 * Send (or resend) an own line. Every attempt carries the line's clientMsgId, so a resend of a
 * message the server already stored is answered with the first result and not delivered twice.
 * A failure leaves the line "not sent — retry" (a button); failures that may pass (offline,
 * timed out, 1023/1024) are also resent after the next login.
 * @param {Line} line
 */
async function deliver(line) {
  const client = im;
  const { conv, clientMsgId } = line;
  if (!client || !conv || !clientMsgId || sending.has(clientMsgId)) return;
  sending.add(clientMsgId);
  Object.assign(line, { status: "pending", error: undefined, transient: undefined });
  if (conv === active) renderMessages();
  try {
    const name = conv.slice(2);
    const r = conv.startsWith("r:")
      ? await client.roomMsg(name, line.text, "text", { clientMsgId })
      : await client.sendMsg(name, line.text, "text", { clientMsgId });
    outbox.delete(clientMsgId);
    if (seen.has(r.msgId)) {
      // Already shown: the first attempt was stored but its reply lost, and the resume replayed it.
      const list = lines(conv);
      if (list.includes(line)) list.splice(list.indexOf(line), 1);
    } else {
      seen.add(r.msgId);
      Object.assign(line, { key: r.msgId, time: r.time, status: "sent", seq: r.senderSeq ?? r.seq });
      line.order = epochIndex * 2 ** 40 + line.seq;
      if (conv.startsWith("u:")) ownByMsgId.set(r.msgId, line);
    }
  } catch (error) {
    const e = /** @type {Error} */ (error);
    const code = e instanceof ImRequestError ? e.code : 0;
    Object.assign(line, {
      status: "failed",
      error: code ? `${e.message} (${code})` : e.message,
      transient: code === 0 || code === 1023 || code === 1024,
    });
    if (im === client) showError(`Not sent: ${line.error}`);
  } finally {
    sending.delete(clientMsgId);
  }
  lines(conv).sort((a, b) => a.order - b.order);
  if (conv === active) renderMessages();
}

async function send(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  const input = $("composer-text");
  const text = input.value;
  if (!im || !text.trim() || !active || active === "all" || input.disabled) return;
  input.value = "";
  showError("");
  const line = /** @type {Line} */ ({
    key: `p${++localKeys}`,
    from: me,
    text,
    time: Date.now(),
    order: PENDING + localKeys,
    mine: true,
    status: "pending",
    seq: 0,
    conv: active,
    clientMsgId: newClientMsgId(),
  });
  outbox.set(/** @type {string} */ (line.clientMsgId), line);
  addLine(active, line);
  await deliver(line);
}

async function joinRoom(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  const room = $("room-name").value.trim();
  const client = im;
  if (!client || !room) return;
  try {
    await client.joinRoom(room);
    rememberRoom(room);
    $("room-name").value = "";
    openConversation(`r:${room}`);
    await loadMembers(client, room);
  } catch (error) {
    showError(/** @type {Error} */ (error).message);
  }
}

async function roomAction(/** @type {"members" | "leave"} */ action) {
  const room = active.slice(2);
  if (!im || !active.startsWith("r:")) return;
  try {
    if (action === "leave") {
      try {
        await im.leaveRoom(room);
      } catch (error) {
        // 1019: not a member any more (left on another device): the page catches up.
        if (!(error instanceof ImRequestError && error.code === 1019)) throw error;
      }
      forgetRoom(room);
      return;
    }
    const { members, online: here } = await im.roomMembers(room);
    const p = $("room-members");
    p.textContent = `Members: ${
      members.map((/** @type {string} */ m) => here.includes(m) ? `${m} ●` : m).join(", ")
    }`;
    p.hidden = false;
  } catch (error) {
    showError(/** @type {Error} */ (error).message);
  }
}

async function init() {
  try {
    config = await (await fetch("/web/config.json")).json();
  } catch {
    // defaults: same host, port 8089
  }
  $("login-token-row").hidden = config.authMode !== "jwt";
  const params = new URLSearchParams(location.search);
  const last = JSON.parse(sessionStorage.getItem("imserver-last") ?? "{}");
  $("login-app").value = params.get("appId") ?? last.appId ?? "101";
  $("login-user").value = params.get("userId") ?? last.userId ?? "";
  $("login-form").addEventListener("submit", login);
  $("login-cancel").addEventListener("click", cancelLogin);
  $("composer").addEventListener("submit", send);
  $("room-form").addEventListener("submit", joinRoom);
  $("room-members-btn").addEventListener("click", () => roomAction("members"));
  $("room-leave").addEventListener("click", () => roomAction("leave"));
  $("logout").addEventListener("click", () => location.reload());
  document.addEventListener("visibilitychange", markRead);
  addEventListener("beforeunload", () => im?.close());
}

init();
