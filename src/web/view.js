// No `// @ts-check` pragma: like app.js, this is type-checked with the DOM lib by
// tests/browser/web_client_test.ts, not by the project-wide `deno check` (which has no DOM lib).
/**
 * DOM rendering of the chat page: message lines, the user and room lists, the connection badge.
 * Every user-supplied string (message text, user ids, room names) goes through textContent or
 * dataset, never innerHTML.
 */

/**
 * @typedef {object} Line A message or event line of a conversation.
 * @property {string} key msgId, or a local key for pending and event lines
 * @property {string} from
 * @property {string} text
 * @property {number} time
 * @property {number} order sort key (epoch index × 2^40 + inbox seq)
 * @property {boolean} mine
 * @property {"pending" | "sent" | "read" | "failed" | "event" | ""} status
 * @property {number} seq inbox seq (0 = not in the inbox)
 * @property {string} [conv] own sends: the conversation ("u:<peer>" or "r:<room>")
 * @property {string} [clientMsgId] own sends: the id every attempt carries (server de-duplicates)
 * @property {string} [error] own sends that failed: why (shown as the retry button's tooltip)
 * @property {boolean} [transient] the failure may pass (offline, timed out, 1023/1024): resent after a reconnect
 */

const STATUS_TEXT = {
  pending: "sending…",
  sent: "sent",
  read: "read",
  failed: "not sent — retry",
  event: "",
  "": "",
};

/**
 * Replace the contents of `ol` with `lines` and scroll to the newest. A failed own message gets
 * a "not sent — retry" button that calls `onRetry` with the line.
 * @param {HTMLElement} ol
 * @param {Line[]} lines
 * @param {(line: Line) => void} [onRetry]
 */
export function renderMessages(ol, lines, onRetry) {
  ol.replaceChildren();
  for (const l of lines) {
    const li = document.createElement("li");
    li.className = `message${l.mine ? " mine" : ""}${l.status === "event" ? " event" : ""}`;
    li.dataset.key = l.key;
    if (l.status !== "event") {
      const from = document.createElement("span");
      from.className = "from";
      from.textContent = l.mine ? "you" : l.from;
      li.append(from);
    }
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = l.text;
    const time = document.createElement("time");
    const date = new Date(l.time);
    time.dateTime = date.toISOString();
    time.title = date.toLocaleString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    li.append(text, time);
    if (l.mine && l.status === "failed" && onRetry) {
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "status failed";
      retry.textContent = STATUS_TEXT.failed;
      retry.title = l.error ? `${l.error}. Send again` : "Send again";
      retry.addEventListener("click", () => onRetry(l));
      li.append(retry);
    } else if (l.mine && l.status) {
      const status = document.createElement("span");
      status.className = `status ${l.status}`;
      status.textContent = STATUS_TEXT[l.status];
      li.append(status);
    }
    ol.append(li);
  }
  ol.scrollTop = ol.scrollHeight;
}

/**
 * Render a list of conversations as buttons with unread badges; `data-peer` / `data-room`
 * carry the name. Room "" is the app-wide "Everyone" conversation.
 * @param {HTMLElement} ul
 * @param {Array<{name: string, conv: string}>} items
 * @param {"peer" | "room"} kind
 * @param {{active: string, unread: Map<string, number>, online: Set<string>, onOpen: (conv: string) => void}} state
 */
export function renderList(ul, items, kind, state) {
  ul.replaceChildren();
  for (const { name, conv } of items) {
    const li = document.createElement("li");
    li.dataset[kind] = name;
    const button = document.createElement("button");
    button.type = "button";
    button.className = conv === state.active ? "active" : "";
    if (kind === "peer") button.classList.toggle("offline", !state.online.has(name));
    const label = document.createElement("span");
    label.textContent = kind === "peer" ? name : name === "" ? "Everyone" : `# ${name}`;
    button.append(label);
    const n = state.unread.get(conv) ?? 0;
    if (n > 0) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = String(n);
      badge.setAttribute("aria-label", `${n} unread`);
      button.append(badge);
    }
    button.addEventListener("click", () => state.onOpen(conv));
    li.append(button);
    ul.append(li);
  }
}

/**
 * The connection badge: `data-state` drives its colour (style.css).
 * @param {HTMLElement} el
 * @param {string} state a ClientState of client.js
 */
export function showState(el, state) {
  el.dataset.state = state;
  el.textContent = state === "online" ? "online" : state === "closed" ? "offline" : `${state}…`;
}
