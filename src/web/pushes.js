// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * What the client reports, into the page: messages, presence, receipts, read states from other
 * devices, edits, recalls, deletions, typing, room joins and leaves, the connection state and what
 * to do after each login.
 */
import * as view from "./view.js";

/** @typedef {import("./client.js").ImClient} ImClient */
/** @typedef {import("./client.js").MsgPush} MsgPush */
/** @typedef {import("./page_types.js").Page} Page */

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/**
 * Listen to `client` for `page`; returns the functions that stop listening.
 * @param {Page} page @param {ImClient} client
 */
export function listen(page, client) {
  /** @type {Array<() => void>} */
  const offs = [];
  const on = (/** @type {string} */ type, /** @type {(d: any) => void} */ fn) =>
    offs.push(client.on(type, fn));
  on("state", (s) => state(page, s));
  on("msg", (m) => message(page, m));
  on("enter", (d) => presence(page, [d.from], []));
  on("exit", (d) => presence(page, [], [d.from]));
  on("presence", (d) => presence(page, d.enter ?? [], d.exit ?? [], d.truncated));
  on("read", (d) => receipt(page, d.msgIds ?? [], "read"));
  on("delivered", (d) => receipt(page, d.msgIds ?? [], "delivered"));
  on("readState", (d) => {
    page.model.markRead(d.conversation, Number(d.readSeq) || 0, Number(d.unread) || 0);
    page.invalidate("list");
  });
  on("msgEdited", (d) => page.changed(page.model.edit(d)?.id));
  on("msgRecalled", (d) => page.changed(page.model.recall(d)?.id));
  on("msgDeleted", (d) => page.changed(page.model.remove(d)?.id));
  on("typing", (d) => peerTyping(page, d));
  on("joinRoom", (d) => page.rooms.onJoin(d));
  on("leaveRoom", (d) => page.rooms.onLeave(d));
  on("kick", () => page.error("Signed in elsewhere: this session was closed."));
  on(
    "gap",
    (d) => page.notice.show("history", "info", `${d.lost} older message(s) expired before delivery.`),
  );
  on("reset", () => reset(page));
  on("login", (d) => afterLogin(page, client, d));
  return offs;
}

/** The connection badge, and "Reconnecting…" once the session was online. @param {Page} page @param {string} s */
function state(page, s) {
  view.showState($("conn-state"), s);
  if ((s === "reconnecting" || s === "connecting") && page.everOnline) {
    page.notice.show("connection", "warn", "Reconnecting…");
  }
}

/**
 * After every (re)login: the notice, rejoin the remembered rooms if the server may have lost them,
 * resend failed sends, then refresh presence, the blocked users and the conversations. Room
 * membership is per user and survives reconnects, so a plain reconnect rejoins nothing.
 * @param {Page} page @param {ImClient} client @param {Record<string, any>} login
 */
async function afterLogin(page, client, login) {
  if (page.im !== client) return;
  const first = page.firstLogin;
  page.firstLogin = false;
  page.model.seenUpTo = Number(login.ackedSeq) || 0;
  if (page.resetSeen) {
    page.notice.show(
      "history",
      "warn",
      "The server's message history was reset: earlier messages may be missing.",
    );
  } else if (!first) page.notice.show("connection", "ok", "Reconnected");
  page.resetSeen = false;
  page.everOnline = true;
  const joins = page.rooms.rejoin(client);
  page.outbox.resendTransient();
  try {
    await Promise.all(joins);
    // A new page: learn who is in each room, and drop rooms left on another device meanwhile.
    if (first) await Promise.all([...page.rooms.joined].map((room) => page.rooms.load(client, room, true)));
    const { userList } = await client.users();
    page.model.online = new Set(userList);
    await loadBlocked(page, client);
    await loadConversations(page, client);
  } catch {
    // dropped again; the next login retries
  }
  page.invalidate("list", "head", "members");
  page.markRead();
}

/** Every page of `conversations` (bounded): unread counts, previews, the order of the list. @param {Page} page @param {ImClient} client */
async function loadConversations(page, client) {
  /** @type {number | undefined} */
  let before;
  /** Rooms with messages this page did not know of (joined on another device, or a new browser). */
  const rooms = new Set();
  try {
    for (let n = 0; n < 25; n++) {
      const r = await client.conversations(before === undefined ? {} : { before });
      for (const s of r.conversations) {
        page.model.fromServer(s);
        if (s.kind === "room" && s.room !== undefined && !page.rooms.joined.has(s.room)) rooms.add(s.room);
      }
      page.model.serverCounts = true;
      before = r.conversations.at(-1)?.seq;
      if (!r.more || before === undefined) break;
    }
  } catch {
    // a server without `conversations` (1010): the page counts what it receives
  }
  page.countsLoaded = true;
  // Listed only if still a member: a room left on another device keeps its conversation.
  await Promise.all([...rooms].map((room) => page.rooms.adopt(client, room)));
  const open = page.model.convs.get(page.active);
  if (open) open.unread = 0;
}

/** The server's inbox epoch changed: seqs restart. @param {Page} page */
function reset(page) {
  page.model.epochIndex++;
  for (const c of page.model.convs.values()) {
    Object.assign(c, { readSeq: 0, countedUpTo: 0, history: "none", before: 0 });
  }
  page.readSent.clear();
  page.rooms.rejoinNeeded = true; // the server lost its store: room membership too
  page.resetSeen = true;
}

/** @param {Page} page @param {MsgPush} m */
function message(page, m) {
  const r = page.model.addMessage(m);
  if (!r) return;
  page.changed(r.conv.id);
  if (r.conv.id !== page.active) return;
  if (r.news && !view.atBottom($("messages"))) page.newBelow++;
  page.invalidate("typing");
  page.markRead();
}

/** @param {Page} page @param {string[]} enter @param {string[]} exit @param {boolean} [truncated] */
async function presence(page, enter, exit, truncated = false) {
  for (const u of enter) page.model.online.add(u);
  for (const u of exit) page.model.online.delete(u);
  if (truncated && page.im) {
    // Not every change fitted in the push: ask for the whole list.
    page.model.online = new Set(
      (await page.im.users().catch(() => ({ userList: [...page.model.online] }))).userList,
    );
  }
  page.invalidate("list", "head", "members");
}

/** @param {Page} page @param {string[]} msgIds @param {"delivered" | "read"} status */
function receipt(page, msgIds, status) {
  for (const c of page.model.receipt(msgIds, status)) page.changed(c.id);
}

/** @param {Page} page @param {{from: string, to?: string, room?: string, state: string, expiresIn?: number}} d */
function peerTyping(page, d) {
  if (d.from === page.model.me || page.model.blocked.has(d.from)) return;
  page.model.typing(d.room ? `r:${d.room}` : `u:${d.from}`, d.from, d.state, Number(d.expiresIn) || 6000);
  page.invalidate("list", "typing");
  expireTyping(page);
}

/** Re-render when the next typing signal expires. @param {Page} page */
function expireTyping(page) {
  clearTimeout(page.typingTimer);
  const next = page.model.expireTyping();
  if (next === Infinity) return;
  page.typingTimer = setTimeout(() => {
    page.invalidate("list", "typing");
    expireTyping(page);
  }, next - Date.now() + 20);
}

/** The users this user blocked (a server without blocking answers 1010: nobody). @param {Page} page @param {ImClient} client */
async function loadBlocked(page, client) {
  try {
    page.model.blocked = new Set((await client.blocked()).users);
  } catch {
    // not supported, or dropped: keep what is known
  }
}
