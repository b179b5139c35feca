// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/admin_test.ts.
/**
 * DOM rendering of the console's views (overview, apps, user, room). Every value from the server
 * (user ids, room names, message text, node ids, IPs) goes through textContent, never innerHTML.
 *
 * @example
 * ```js
 * renderNodes(document.querySelector("#nodes-table tbody"), overview);
 * ```
 */

/**
 * A new element with text.
 * @param {string} tag
 * @param {string | number} [text]
 * @param {string} [className]
 */
export function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

/** @param {number | null | undefined} v @param {number} [digits] */
const num = (v, digits = 1) =>
  v === null || v === undefined ? "–" : String(Math.round(v * 10 ** digits) / 10 ** digits);
/** @param {number} bytes */
const mb = (bytes) => `${Math.round(bytes / 1048576)} MB`;
/** @param {number} s */
export function duration(s) {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
/** @param {number} ms */
const time = (ms) => new Date(ms).toLocaleString();

/**
 * The nodes table and the summary line of the overview.
 * @param {HTMLElement} tbody
 * @param {HTMLElement} summary
 * @param {any} o GET /overview
 */
export function renderNodes(tbody, summary, o) {
  const redis = o.redis
    ? o.redis.ok ? `Redis ok, ping ${num(o.redis.pingMs, 2)} ms` : `Redis unreachable: ${o.redis.error ?? ""}`
    : "no Redis";
  summary.textContent = `${o.totals.nodes} node${o.totals.nodes === 1 ? "" : "s"}, ` +
    `${o.totals.connections} connections (${o.totals.loggedIn} logged in) — ${o.mode}, ${redis}. ` +
    `Answered by ${o.nodeId}.`;
  tbody.replaceChildren(...o.nodes.map((/** @type {any} */ n) => {
    const tr = el("tr");
    tr.dataset.node = n.nodeId;
    if (n.stale) {
      tr.append(el("td", n.nodeId), el("td", "no stats (console off there?)", "muted"));
      return tr;
    }
    const state = n.draining ? "draining" : n.store.healthy ? "serving" : "store down";
    tr.append(
      el("td", n.self ? `${n.nodeId} (this)` : n.nodeId),
      el("td", state, n.draining || !n.store.healthy ? "warn" : "ok"),
      el("td", n.connections, "n connections"),
      el("td", n.users, "n"),
      el("td", num(n.rates.msgsIn), "n"),
      el("td", num(n.rates.msgsOut), "n"),
      el("td", num(n.rates.deliveries), "n"),
      el("td", num(n.rates.drops), "n"),
      el("td", n.store.kind),
      el("td", `${num(n.store.p50Ms, 2)} / ${num(n.store.p99Ms, 2)}`, "n"),
      el("td", mb(n.memory.rss), "n"),
      el("td", duration(n.uptimeSeconds)),
      el("td", n.self ? "live" : duration(n.ageMs / 1000)),
    );
    return tr;
  }));
}

/**
 * @param {HTMLElement} tbody
 * @param {any} data GET /apps
 */
export function renderApps(tbody, data) {
  tbody.replaceChildren(...data.apps.map((/** @type {any} */ a) => {
    const tr = el("tr");
    const rooms = el("td");
    rooms.textContent = a.topRooms.length
      ? a.topRooms.map((/** @type {any} */ r) => `${r.room} (${r.messages}, ${r.members})`).join(", ")
      : "–";
    tr.append(el("td", a.appId), el("td", a.onlineUsers, "n"), el("td", a.connections, "n"), rooms);
    return tr;
  }));
}

/**
 * The user view; `onKick` is called with the connection a Kick button belongs to.
 * @param {Record<string, HTMLElement>} els title, conns (tbody), inbox (dl), rooms (ul), recent (ol)
 * @param {any} u GET /users/{userId}
 * @param {(conn: any) => void} onKick
 */
export function renderUser(els, u, onKick) {
  els.title.textContent = `${u.userId} in app ${u.appId} — ${u.online ? "online" : "offline"}, ` +
    `${u.connections.length} connection${u.connections.length === 1 ? "" : "s"}`;
  els.conns.replaceChildren(...u.connections.map((/** @type {any} */ c) => {
    const tr = el("tr");
    tr.dataset.conn = c.connId;
    const kick = el("button", "Kick", "danger small");
    kick.setAttribute("type", "button");
    kick.addEventListener("click", () => onKick(c));
    const actions = el("td");
    actions.append(kick);
    const device = [c.deviceId, c.platform].filter(Boolean).join(" / ") || "–";
    tr.append(
      el("td", c.connId),
      el("td", c.nodeId),
      el("td", c.ip ?? "–"),
      el("td", device),
      el("td", time(c.since)),
      actions,
    );
    return tr;
  }));
  const facts = [
    ["inbox seq", u.inbox.lastSeq],
    ["first kept", u.inbox.firstSeq],
    ["acked", u.inbox.acked],
    ["read", u.inbox.read],
    ["delivered", u.inbox.delivered],
    ["epoch", u.inbox.epoch],
  ];
  els.inbox.replaceChildren(...facts.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  els.rooms.replaceChildren(
    ...(u.rooms.length ? u.rooms.map((/** @type {string} */ r) => el("li", r)) : [el("li", "none", "muted")]),
  );
  els.recent.replaceChildren(...entries(u.recent));
}

/**
 * @param {Record<string, HTMLElement>} els title, members (ul), timelineTitle, timeline (ol)
 * @param {any} r GET /rooms/{room}
 */
export function renderRoom(els, r) {
  const online = r.members.filter((/** @type {any} */ m) => m.online).length;
  els.title.textContent = `${r.room} in app ${r.appId} — ${r.membersTotal} members, ${online} online` +
    (r.membersTotal > r.members.length ? ` (first ${r.members.length} shown)` : "");
  els.members.replaceChildren(...r.members.map((/** @type {any} */ m) => {
    const li = el("li", m.userId, m.online ? "online" : "offline");
    li.title = m.online ? "online" : "offline";
    return li;
  }));
  els.timelineTitle.textContent = `Recent messages (from ${r.timeline.from}'s inbox)`;
  els.timeline.replaceChildren(...entries(r.timeline.entries));
}

/** @param {any[]} list inbox entries */
function entries(list) {
  if (list.length === 0) return [el("li", "nothing yet", "muted")];
  return list.map((e) => {
    const li = el("li");
    li.append(
      el("span", `#${e.seq}`, "seq"),
      el("span", new Date(e.time).toLocaleTimeString(), "time"),
      el("span", `${e.from || "(system)"} → ${e.target ? `#${e.target}` : e.to}`, "from"),
      el("span", e.msg, "text"),
    );
    return li;
  });
}
