/**
 * Login deadline (`heartbeat.loginTimeout`): a WebSocket that is not logged in may not live
 * forever. Checked by the server's one sweep timer, so a connection is closed between
 * `loginTimeout` and `loginTimeout + heartbeat.sweep` after it connected (or logged out: logout
 * refreshes `heartbeatAt`, which gives the next login the same grace).
 *
 * @example
 * ```ts
 * for (const c of overdueLogins(hub.connections(), clock.now(), 30_000)) {
 *   closeForLoginTimeout(c, () => lifecycle.unregister(c));
 * }
 * ```
 * @module
 */
import { CloseCode } from "../protocol/codes.ts";

/** What the check reads of a connection (a {@linkcode Client} has all of it). */
export interface LoginDeadlineView {
  /** When the connection was accepted (ms). */
  readonly connectedAt: number;
  /** Last login, heartbeat or logout (ms); `connectedAt` until then. */
  readonly heartbeatAt: number;
  /** Set while logged in. */
  readonly identity: unknown;
  /** A login sent in time is being applied: the wait is the server's (a storm, a slow store), not the client's. */
  readonly loggingIn?: boolean;
}

/**
 * The connections to close: not logged in, no login being applied, and `timeoutMs` or more since they
 * connected and since their last login, heartbeat or logout. `timeoutMs` ≤ 0 disables the check. A login
 * that fails leaves the original deadline in force (a failed attempt refreshes nothing).
 */
export function overdueLogins<C extends LoginDeadlineView>(
  clients: Iterable<C>,
  now: number,
  timeoutMs: number,
): C[] {
  const overdue: C[] = [];
  if (!(timeoutMs > 0)) return overdue;
  const cutoff = now - timeoutMs;
  for (const c of clients) {
    if (c.identity === undefined && !c.loggingIn && c.connectedAt <= cutoff && c.heartbeatAt <= cutoff) {
      overdue.push(c);
    }
  }
  return overdue;
}

/** Close with 4009 and forget the connection at once (its peer may never answer the close). */
export function closeForLoginTimeout(
  client: { close(code: number, reason: string, detail?: string): void },
  forget: () => unknown,
): void {
  client.close(
    CloseCode.LoginTimeout,
    "login timeout",
    "login timeout: log in within heartbeat.loginTimeout",
  );
  forget();
}
