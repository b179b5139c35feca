// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * Dates and names as the chat page shows them, in the browser's locale and time zone.
 */

const DAY = 86_400_000;

/** Midnight (local time) of the day of `ms`. @param {number} ms */
function dayStart(ms) {
  const d = new Date(ms);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** @param {number} a @param {number} b */
export function sameDay(a, b) {
  return dayStart(a) === dayStart(b);
}

/** "14:05". @param {number} ms */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A date separator: "Today", "Yesterday", "Monday 3 March" or "3 March 2024". @param {number} ms @param {number} [now] */
export function dayLabel(ms, now = Date.now()) {
  const days = Math.round((dayStart(now) - dayStart(ms)) / DAY);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const d = new Date(ms);
  if (days > 1 && days < 7) {
    return d.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" });
  }
  const year = d.getFullYear() === new Date(now).getFullYear() ? undefined : "numeric";
  return d.toLocaleDateString([], { day: "numeric", month: "long", year });
}

/** The time of a conversation in the list: "14:05" today, "Yesterday", a weekday, or a date. @param {number} ms @param {number} [now] */
export function listTime(ms, now = Date.now()) {
  const days = Math.round((dayStart(now) - dayStart(ms)) / DAY);
  if (days === 0) return clock(ms);
  if (days === 1) return "Yesterday";
  if (days > 1 && days < 7) return new Date(ms).toLocaleDateString([], { weekday: "short" });
  return new Date(ms).toLocaleDateString([], { day: "numeric", month: "short" });
}

/** The title of a conversation. @param {{kind: string, name: string}} c */
export function convTitle(c) {
  if (c.kind === "all") return "Everyone";
  if (c.kind === "system") return "System";
  return c.kind === "room" ? `# ${c.name}` : c.name;
}
