// No `// @ts-check` pragma on purpose: the project-wide `deno check` has no DOM lib (adding one
// would change global types for every file). tests/browser/web_client_test.ts type-checks this page with
// `checkJs` and the DOM lib instead.
/**
 * The chat page: login, online users, 1:1 chats, rooms, unread counts and read receipts, on
 * top of client.js. Message text is only ever assigned with textContent (never innerHTML).
 */
import { ImClient } from "./client.js";
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
/** @type {Set<string>} */
let rooms = new Set();
const historyLoaded = new Set();
let readSent = 0;
/** Inbox entries up to this seq were acked (seen) by some device before this login. */
let seenUpTo = 0;
let localKeys = 0;
/** @type {{wsUrl?: string | null, wsPort: number, wsPath: string, authMode: string}} */
let config = { wsPort: 8089, wsPath: "/im", authMode: "none" };

const roomsKey = () => `imserver-rooms:${im?.options.appId}:${me}`;
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
  $("chat-title").textContent = conv === "all" ? "Everyone" : kind === "r" ? `# ${name}` : name;
  $("room-actions").hidden = kind !== "r";
  $("room-members").hidden = true;
  $("composer-text").disabled = $("composer-send").disabled = conv === "all";
  renderMessages();
  renderLists();
  $("composer-text").focus();
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

function renderMessages() {
  view.renderMessages($("messages"), lines(active));
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

async function login(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  $("login-error").textContent = "";
  const userId = $("login-user").value.trim();
  const appId = Number($("login-app").value);
  const wsUrl = config.wsUrl
    ? (config.wsUrl.includes("://")
      ? config.wsUrl
      : `${location.protocol === "https:" ? "wss" : "ws"}://${config.wsUrl}${config.wsPath}`)
    : `${
      location.protocol === "https:" ? "wss" : "ws"
    }://${location.hostname}:${config.wsPort}${config.wsPath}`;
  im = new ImClient({
    url: wsUrl,
    userId,
    appId,
    token: $("login-token").value.trim() || undefined,
    fullResume: true, // a new browser shows the recent inbox, not an empty page
  });
  me = userId;
  im.on("state", showState);
  /** @type {{code: number, reason: string} | null} */
  let lastClose = null;
  im.on("closed", (d) => lastClose = d);
  im.on("state", (state) => {
    // A terminal close (kicked, token expired, login refused on reconnect) ends the session.
    if (state === "closed" && lastClose && !$("chat-view").hidden && !$("chat-error").textContent) {
      const { code, reason } = lastClose;
      showError(`Disconnected (${code}${reason ? `: ${reason}` : ""}). Log out to sign in again.`);
    }
  });
  im.on("msg", (m) => onMessage(m));
  im.on("enter", (d) => {
    online.add(d.from);
    renderLists();
  });
  im.on("exit", (d) => {
    online.delete(d.from);
    renderLists();
  });
  im.on("read", (d) => {
    for (const id of d.msgIds ?? []) {
      const line = ownByMsgId.get(id);
      if (line) line.status = "read";
    }
    if (active.startsWith("u:")) renderMessages();
  });
  im.on("joinRoom", (d) => d.from !== me && roomEvent(d.room, `${d.from} joined`, d.time));
  im.on("leaveRoom", (d) => d.from !== me && roomEvent(d.room, `${d.from} left`, d.time));
  im.on("kick", () => showError("Signed in elsewhere: this session was closed."));
  im.on("gap", (d) => showError(`${d.lost} older message(s) expired before delivery.`));
  im.on("reset", () => {
    epochIndex++;
    readSent = 0;
    historyLoaded.clear();
  });
  im.on("login", (d) => {
    seenUpTo = Number(d.ackedSeq) || 0;
    afterLogin();
  });
  try {
    await im.connect();
  } catch (error) {
    $("login-error").textContent = `Login failed: ${/** @type {Error} */ (error).message}`;
    im.close();
    im = null;
    return;
  }
  sessionStorage.setItem("imserver-last", JSON.stringify({ userId, appId }));
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("logout").hidden = false;
  $("me").textContent = `${userId} · app ${appId}`;
}

/** After every (re)login: refresh the online list and rejoin remembered rooms. */
async function afterLogin() {
  if (!im) return;
  try {
    rooms = new Set(JSON.parse(localStorage.getItem(roomsKey()) ?? "[]"));
  } catch {
    rooms = new Set();
  }
  try {
    const { userList } = await im.users();
    online.clear();
    for (const u of userList) online.add(u);
    // Membership lives in the server's store (lost with a memory store restart): rejoin.
    await Promise.all([...rooms].map((r) => im?.joinRoom(r).catch(() => rooms.delete(r))));
  } catch {
    // dropped again; the next login retries
  }
  renderLists();
  markRead();
}

/** @param {string} text */
function showError(text) {
  $("chat-error").textContent = text;
}

async function send(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  const input = $("composer-text");
  const text = input.value;
  if (!im || !text.trim() || !active || active === "all") return;
  input.value = "";
  showError("");
  const conv = active;
  const line = /** @type {Line} */ ({
    key: `p${++localKeys}`,
    from: me,
    text,
    time: Date.now(),
    order: PENDING + localKeys,
    mine: true,
    status: "pending",
    seq: 0,
  });
  addLine(conv, line);
  try {
    const r = conv.startsWith("r:")
      ? await im.roomMsg(conv.slice(2), text)
      : await im.sendMsg(conv.slice(2), text);
    seen.add(r.msgId);
    Object.assign(line, { key: r.msgId, time: r.time, status: "sent", seq: r.senderSeq ?? r.seq });
    line.order = epochIndex * 2 ** 40 + line.seq;
    if (conv.startsWith("u:")) ownByMsgId.set(r.msgId, line);
  } catch (error) {
    line.status = "failed";
    showError(/** @type {Error} */ (error).message);
  }
  lines(conv).sort((a, b) => a.order - b.order);
  if (conv === active) renderMessages();
}

async function joinRoom(/** @type {SubmitEvent} */ event) {
  event.preventDefault();
  const room = $("room-name").value.trim();
  if (!im || !room) return;
  try {
    await im.joinRoom(room);
    rooms.add(room);
    localStorage.setItem(roomsKey(), JSON.stringify([...rooms]));
    $("room-name").value = "";
    openConversation(`r:${room}`);
  } catch (error) {
    showError(/** @type {Error} */ (error).message);
  }
}

async function roomAction(/** @type {"members" | "leave"} */ action) {
  const room = active.slice(2);
  if (!im || !active.startsWith("r:")) return;
  try {
    if (action === "leave") {
      await im.leaveRoom(room);
      rooms.delete(room);
      localStorage.setItem(roomsKey(), JSON.stringify([...rooms]));
      renderLists();
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
  $("composer").addEventListener("submit", send);
  $("room-form").addEventListener("submit", joinRoom);
  $("room-members-btn").addEventListener("click", () => roomAction("members"));
  $("room-leave").addEventListener("click", () => roomAction("leave"));
  $("logout").addEventListener("click", () => location.reload());
  document.addEventListener("visibilitychange", markRead);
  addEventListener("beforeunload", () => im?.close());
}

init();
