// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/admin_test.ts.
/**
 * The admin console page (/admin): asks for the admin key, then polls the admin API — the overview and
 * new samples every 2 s while the overview is shown, the apps every 5 s while they are — and runs the
 * user and room views and their actions (send, kick, disconnect every device). The key only ever goes
 * into the Authorization header and sessionStorage (admin_api.js).
 */
import { AdminApi, AdminApiError, keyProblem } from "./admin_api.js";
import { Charts, SampleHistory } from "./admin_charts.js";
import { renderApps, renderNodes, renderRoom, renderUser } from "./admin_views.js";

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));
const POLL_MS = { overview: 2000, apps: 5000 };

const api = new AdminApi(sessionStorage);
const history = new SampleHistory();
/** @type {Charts | null} */
let charts = null;
let view = "overview";
/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
/** The user shown in the user view: { appId, userId } or null. @type {{ appId: string, userId: string } | null} */
let shownUser = null;

/** @param {string} text */
function notice(text) {
  $("notice").textContent = text;
}

/** @param {unknown} e */
function showError(e) {
  if (
    e instanceof AdminApiError &&
    (e.status === 401 || e.status === 403 || e.status === 404 && e.code === 1010)
  ) {
    signOut(keyProblem(e));
    return;
  }
  $("error").textContent = e instanceof Error ? e.message : String(e);
  $("poll-state").dataset.state = "error";
  $("poll-state").textContent = "error";
}

/** @param {string} [why] */
function signOut(why = "") {
  clearTimeout(timer);
  api.clearKey();
  $("console-view").hidden = true;
  $("key-view").hidden = false;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("key-error").textContent = why;
  $("key-input").value = "";
  $("key-input").focus();
}

async function open() {
  $("key-error").textContent = "";
  try {
    const overview = await api.get("/overview");
    $("key-view").hidden = true;
    $("console-view").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = `node ${overview.nodeId}`;
    charts ??= new Charts($("charts"));
    show("overview");
  } catch (e) {
    if (e instanceof AdminApiError) signOut(keyProblem(e));
    else signOut(String(e));
  }
}

/** @param {string} next */
function show(next) {
  view = next;
  for (const b of document.querySelectorAll("#tabs button")) {
    const button = /** @type {HTMLElement} */ (b);
    button.setAttribute("aria-pressed", String(button.dataset.view === next));
  }
  for (const name of ["overview", "apps", "user", "room"]) $(`view-${name}`).hidden = name !== next;
  $("error").textContent = "";
  clearTimeout(timer);
  void poll();
}

async function poll() {
  clearTimeout(timer);
  const current = view;
  try {
    if (current === "overview") {
      const [overview, series] = await Promise.all([
        api.get("/overview"),
        api.get("/series", { since: history.last }),
      ]);
      renderNodes($("nodes-table").tBodies[0], $("overview-summary"), overview);
      history.merge(series);
      $("charts-title").textContent =
        `Last ${Math.round(history.t.length / 60) || "<1"} min on ${series.nodeId} ` +
        `(one sample a second, up to ${Math.round(series.capacity / 60)} min)`;
      charts?.update(history);
    } else if (current === "apps") {
      renderApps($("apps-table").tBodies[0], await api.get("/apps"));
    }
    $("error").textContent = "";
    $("poll-state").dataset.state = "live";
    $("poll-state").textContent = "live";
  } catch (e) {
    showError(e);
  }
  const every = /** @type {Record<string, number>} */ (POLL_MS)[current];
  if (every && view === current && api.key) timer = setTimeout(poll, every);
}

async function loadUser() {
  if (!shownUser) return;
  try {
    const u = await api.get(`/users/${encodeURIComponent(shownUser.userId)}`, { appId: shownUser.appId });
    $("user-detail").hidden = false;
    renderUser(
      {
        title: $("user-title"),
        conns: $("conns-table").tBodies[0],
        inbox: $("inbox"),
        rooms: $("user-rooms"),
        recent: $("user-recent"),
      },
      u,
      kick,
    );
  } catch (e) {
    showError(e);
  }
}

/** @param {any} conn */
async function kick(conn) {
  if (!shownUser) return;
  try {
    const r = await api.post(`/connections/${encodeURIComponent(conn.connId)}/kick`, {
      appId: shownUser.appId,
      userId: shownUser.userId,
    });
    notice(`Kicked ${conn.connId} (${r.closed ? "on this node" : `asked ${r.nodes} node(s)`}).`);
  } catch (e) {
    showError(e);
  }
  setTimeout(loadUser, 300);
}

async function disconnectAll() {
  if (!shownUser) return;
  try {
    const r = await api.post(`/users/${encodeURIComponent(shownUser.userId)}/disconnect`, {
      appId: shownUser.appId,
    });
    notice(
      `Disconnected ${shownUser.userId}: ${r.closed} connection(s) here, ${r.nodes} other node(s) asked.`,
    );
  } catch (e) {
    showError(e);
  }
  setTimeout(loadUser, 300);
}

/** @param {SubmitEvent} ev */
async function send(ev) {
  ev.preventDefault();
  if (!shownUser) return;
  try {
    const r = await api.post(`/users/${encodeURIComponent(shownUser.userId)}/messages`, {
      appId: shownUser.appId,
    }, {
      msg: $("send-msg").value,
      from: $("send-from").value.trim() || undefined,
    });
    notice(`Sent: seq ${r.seq}, ${r.delivered ? "delivered live" : "stored for later"}.`);
    $("send-msg").value = "";
  } catch (e) {
    showError(e);
  }
  void loadUser();
}

/** @param {SubmitEvent} ev */
async function showRoom(ev) {
  ev.preventDefault();
  try {
    const r = await api.get(`/rooms/${encodeURIComponent($("room-name").value.trim())}`, {
      appId: $("room-app").value.trim(),
      member: $("room-member").value.trim() || undefined,
    });
    $("room-detail").hidden = false;
    renderRoom({
      title: $("room-title"),
      members: $("room-members"),
      timelineTitle: $("timeline-title"),
      timeline: $("room-timeline"),
    }, r);
  } catch (e) {
    $("room-detail").hidden = true;
    showError(e);
  }
}

$("key-form").addEventListener("submit", (/** @type {SubmitEvent} */ ev) => {
  ev.preventDefault();
  const key = $("key-input").value.trim();
  if (!key) return;
  api.setKey(key);
  $("key-input").value = "";
  void open();
});
$("sign-out").addEventListener("click", () => signOut());
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => show(/** @type {HTMLElement} */ (b).dataset.view ?? "overview"));
}
$("user-form").addEventListener("submit", (/** @type {SubmitEvent} */ ev) => {
  ev.preventDefault();
  shownUser = { appId: $("user-app").value.trim(), userId: $("user-id").value.trim() };
  void loadUser();
});
$("user-disconnect").addEventListener("click", () => void disconnectAll());
$("send-form").addEventListener("submit", send);
$("room-form").addEventListener("submit", showRoom);

if (api.key) void open();
else $("key-input").focus();
