/**
 * Session commands: login, logout, heartbeat, ping, refresh (PROTOCOL.md A.4, B.1, C.1).
 *
 * Where a login resumes: with `lastSeq` (and a matching `epoch`) after `lastSeq`; without it after the
 * user's `delivered` mark — the highest seq written to any of its connections — so a gowebsocket client
 * that never heard of seqs still gets what arrived while it was offline (C.1), and nothing twice on one
 * connection.
 *
 * @example
 * ```ts
 * const routes = sessionCommands(deps); // { login, logout, heartbeat, ping, refresh }
 * ```
 * @module
 */
import type { Authenticator } from "../auth/authenticator.ts";
import type { TokenExpiry } from "../auth/token_expiry.ts";
import type { Config } from "../config/load.ts";
import type { ServerCounters } from "../ops/counters.ts";
import type { Logger } from "../ops/log.ts";
import type { LoginShaper } from "../ops/login_shaping.ts";
import { Code } from "../protocol/codes.ts";
import { echoKey, type Request } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";
import { appIdField, intField, stringField, userIdField } from "../protocol/validate.ts";
import type { Connection, Identity } from "../session/connection.ts";
import type { Hub } from "../session/hub.ts";
import type { Lifecycle } from "../session/lifecycle.ts";
import type { Store } from "../store/store.ts";
import type { AttemptWindow, LoginAttempts } from "../transport/login_attempts.ts";
import type { Clock } from "../util/clock.ts";
import { Reply, type Routes } from "./router.ts";

/** What the session commands need. */
export interface SessionDeps {
  config: Pick<Config, "im" | "heartbeat">;
  auth: Authenticator;
  lifecycle: Lifecycle;
  hub: Hub;
  store: Store;
  tokens: TokenExpiry;
  attempts: LoginAttempts;
  shaper?: LoginShaper;
  draining: () => boolean;
  nodeId: string;
  clock: Clock;
  log: Logger;
  counters: Pick<ServerCounters, "logins">;
}

/** The session commands. */
export function sessionCommands(d: SessionDeps): Routes {
  /** Each connection's window of login attempts. */
  const windows = new WeakMap<Connection, AttemptWindow>();

  /**
   * An optional string of the login: empty counts as absent (gowebsocket clients send `token: ""`,
   * `deviceId: ""` for "none"); a wrong type or an over-long one is still 1001.
   */
  const optional = (data: Record<string, unknown>, name: string, maxBytes: number) =>
    stringField(data, name, maxBytes, { optional: true, allowEmpty: true }) || undefined;

  async function login(conn: Connection, req: Request): Promise<Reply> {
    const data = req.data;
    let window = windows.get(conn);
    if (!window) windows.set(conn, window = d.attempts.window());
    // Counted before any parsing, so malformed logins cannot be used to guess tokens for free.
    d.attempts.check(conn.ip, window);
    const { im } = d.config;
    const token = optional(data, "token", 16 * 1024);
    const claimed = data.userId === undefined && token ? "" : userIdField(data, "userId", im.maxUserIdBytes);
    const appId = appIdField(data, "appId", true) ?? 0;
    if (conn.identity || conn.loggingIn) {
      throw new ReplyError(Code.OperationFailure, "already logged in on this connection");
    }
    if (d.draining()) throw new ReplyError(Code.Unavailable, "server is draining; reconnect elsewhere");
    // Reconnect-storm shaping per node (drain.loginsPerSecond): 1023 + jittered retryMs, socket stays open.
    d.shaper?.admit();
    const lastSeq = intField(data, "lastSeq", { optional: true });
    const epoch = optional(data, "epoch", 64);
    const deviceId = optional(data, "deviceId", 64);
    const platform = optional(data, "platform", 32);
    conn.beginLogin();
    try {
      const principal = await d.auth.authenticate({ userId: claimed || undefined, appId, token });
      // Whatever vouched for the identity, it must be a valid userId (a token's sub is not checked by jose).
      const userId = userIdField({ userId: principal.userId }, "userId", im.maxUserIdBytes);
      if (im.appIds.length > 0 && !im.appIds.includes(principal.appId)) {
        d.counters.logins.inc({ result: "app_refused" });
        throw new ReplyError(Code.Unauthorized, `appId ${principal.appId} is not allowed`);
      }
      return await apply(conn, req, window, {
        userId,
        appId: principal.appId,
        expiresAt: principal.expiresAt,
        lastSeq,
        epoch,
        deviceId,
        platform,
      });
    } finally {
      conn.endLogin();
    }
  }

  async function apply(conn: Connection, req: Request, window: AttemptWindow, f: {
    userId: string;
    appId: number;
    expiresAt: number;
    lastSeq?: number;
    epoch?: string;
    deviceId?: string;
    platform?: string;
  }): Promise<Reply> {
    const { userId, appId, lastSeq, epoch } = f;
    const { head, delivered, acked, unreadTotal } = await d.store.loginState(appId, userId);
    const reset = lastSeq !== undefined &&
      ((epoch !== undefined && epoch !== head.epoch) || lastSeq > head.lastSeq);
    let from: number;
    if (lastSeq === undefined) {
      // The store's mark lags the connections of this node by up to heartbeat.deliveredFlush: take theirs too.
      let local = delivered;
      for (const other of d.hub.connectionsOf(appId, userId) ?? []) {
        local = Math.max(local, other.delivery.position);
      }
      from = Math.min(local, head.lastSeq);
    } else from = reset ? 0 : lastSeq;
    // Registered for live delivery before the replay reads the store: live entries queue meanwhile.
    conn.delivery.open(d.store, appId, userId, from);
    conn.touch(d.clock.now());
    try {
      await d.lifecycle.login(conn, {
        userId,
        appId,
        deviceId: f.deviceId,
        platform: f.platform,
        loginTime: d.clock.now(),
      });
    } catch (error) {
      conn.delivery.stop();
      throw error;
    }
    d.tokens.set(conn, f.expiresAt);
    d.attempts.applied(window);
    d.counters.logins.inc({ result: "ok" });
    d.log.info("login {connId} {userId} {appId} {ip}", { connId: conn.id, userId, appId, ip: conn.ip });
    const data = {
      [echoKey(req, "userId")]: userId,
      [echoKey(req, "appId")]: appId,
      connId: conn.id,
      nodeId: d.nodeId,
      serverTime: d.clock.now(),
      heartbeatInterval: d.config.heartbeat.interval,
      inboxSeq: head.lastSeq,
      firstSeq: head.firstSeq,
      inboxEpoch: head.epoch,
      ackedSeq: acked,
      unreadTotal,
      resumeFrom: from,
      ...(reset ? { inboxReset: true } : {}),
      ...(Number.isFinite(f.expiresAt) ? { expiresAt: f.expiresAt } : {}),
    };
    // The reply goes first, then the replay of what the connection missed.
    return new Reply(data, () => void conn.delivery.replay().catch(() => {}));
  }

  async function logout(conn: Connection): Promise<null> {
    await d.lifecycle.logout(conn);
    d.tokens.clear(conn);
    // A logged-out connection gets the same grace to log in again as a new one (heartbeat.loginTimeout).
    conn.touch(d.clock.now());
    return null;
  }

  /**
   * `refresh {token}`: a new token for the same userId/appId extends the connection's life (auth.mode:
   * jwt). The reply carries the new `expiresAt` (null when it does not expire).
   */
  async function refresh(conn: Connection, req: Request, me: Identity) {
    const token = stringField(req.data, "token", 16 * 1024)!;
    const { userId, appId } = me;
    const principal = await d.auth.authenticate({ userId, appId, token });
    // Re-check after the await: the connection may have logged out or closed meanwhile.
    const now = conn.identity;
    if (!now || now.userId !== userId || principal.userId !== userId || principal.appId !== appId) {
      throw new ReplyError(Code.Unauthorized, "token is for another user or app");
    }
    d.tokens.set(conn, principal.expiresAt);
    return { expiresAt: Number.isFinite(principal.expiresAt) ? principal.expiresAt : null };
  }

  return {
    login: { handler: login },
    heartbeat: {
      handler: (conn) => {
        conn.touch(d.clock.now());
        return null;
      },
      auth: true,
    },
    ping: { handler: () => "pong", anyData: true }, // A.4: "ping | anything | pong"
    logout: { handler: logout, auth: true },
    refresh: { handler: refresh, auth: true },
  };
}
