/**
 * The command router: maps `cmd` to a handler and writes exactly one reply per request. A handler
 * returns the reply's `data` (undefined → null), or a {@linkcode Reply} when something must follow the
 * reply (the login's replay); it throws a `ReplyError` for an error code, a `Disconnect` to end the
 * connection, and a store's `StorageError` becomes a generic 1024 with a retry hint. Anything else is
 * a bug: logged, answered 1004 without internals, and the connection keeps working.
 *
 * @example
 * ```ts
 * const router = new Router({ ping: { handler: () => "pong" } }, deps);
 * await router.dispatch(conn, '{"seq":"1","cmd":"ping"}'); // conn got the reply
 * ```
 * @module
 */
import { Code } from "../protocol/codes.ts";
import {
  encodeError,
  encodeReply,
  MalformedRequest,
  parseRequest,
  type Request,
} from "../protocol/envelope.ts";
import {
  Disconnect,
  ReplyError,
  STORAGE_RETRY_MS,
  STORAGE_UNAVAILABLE,
  StorageError,
} from "../protocol/errors.ts";
import type { Logger } from "../ops/log.ts";
import type { ServerCounters } from "../ops/counters.ts";
import type { Connection, Identity } from "../session/connection.ts";

/** A reply whose `after` runs once the reply has been written (e.g. start a replay after the login reply). */
export class Reply {
  constructor(readonly data: unknown, readonly after?: () => void) {}
}

/** What a handler gets; its value becomes the reply's `data`. */
export type Handler = (conn: Connection, req: Request) => unknown | Promise<unknown>;

/** A handler of a command that needs a login: it also gets who is logged in. */
export type AuthHandler = (conn: Connection, req: Request, me: Identity) => unknown | Promise<unknown>;

/**
 * One command: `auth` ones need a logged-in connection (code 1000 otherwise) and get its identity.
 * `anyData` ones take any `data` (not an object: `{}`); the others answer 1001 unless it is an object.
 */
export type Route =
  | { handler: Handler; auth?: false; anyData?: boolean }
  | { handler: AuthHandler; auth: true; anyData?: boolean };

/** Commands by name. */
export type Routes = Record<string, Route>;

/** What the router needs besides its routes. */
export interface RouterDeps {
  counters: Pick<ServerCounters, "frames" | "errors">;
  log: Logger;
  /** End a connection after a `Disconnect` (the lifecycle closes and unregisters it). */
  disconnect: (conn: Connection, closeCode: number, reason: string, detail: string) => void;
}

/** The command registry of one server. */
export class Router {
  readonly #routes: ReadonlyMap<string, Route>;
  readonly #deps: RouterDeps;
  /**
   * Whether a command's `data` must be an object (what parseRequest asks). Not for an unknown cmd: it
   * is routed first and answers 1010 whatever its data (A.4).
   */
  readonly #needsObject = (cmd: string) => {
    const route = this.#routes.get(cmd);
    return route !== undefined && route.anyData !== true;
  };

  constructor(routes: Routes, deps: RouterDeps) {
    this.#routes = new Map(Object.entries(routes));
    this.#deps = deps;
  }

  /** Registered command names. */
  get commands(): string[] {
    return [...this.#routes.keys()];
  }

  /**
   * Handle one text frame and write its reply to `conn`. Never throws or rejects. Returns a promise only
   * while the handler's is pending: a handler that answers at once (heartbeat, ping, every refusal) is
   * replied to before this returns, with no promise or async frame allocated for it.
   */
  dispatch(conn: Connection, text: string): Promise<void> | undefined {
    let req: Request | undefined;
    try {
      req = parseRequest(text, this.#needsObject);
      const route = this.#routes.get(req.cmd);
      this.#deps.counters.frames.inc({ cmd: route ? req.cmd : "(unknown)" });
      if (!route) throw new ReplyError(Code.RouteNotExist, `unknown cmd "${req.cmd.slice(0, 64)}"`);
      let value: unknown;
      if (route.auth) {
        const me = conn.identity;
        if (!me) throw new ReplyError(Code.NotLoggedIn, "login first");
        value = route.handler(conn, req, me);
      } else value = route.handler(conn, req);
      if (value instanceof Promise) return this.#settle(conn, req, value);
      this.#reply(conn, req, value);
    } catch (error) {
      this.#fail(conn, req, error);
    }
  }

  async #settle(conn: Connection, req: Request, pending: Promise<unknown>): Promise<void> {
    try {
      this.#reply(conn, req, await pending);
    } catch (error) {
      this.#fail(conn, req, error);
    }
  }

  #reply(conn: Connection, req: Request, value: unknown): void {
    // Most handlers return plain data: no Reply is allocated for them.
    if (value instanceof Reply) {
      conn.send(encodeReply(req.seq, req.cmd, Code.Success, value.data ?? null));
      value.after?.();
    } else conn.send(encodeReply(req.seq, req.cmd, Code.Success, value ?? null));
  }

  #fail(conn: Connection, req: Request | undefined, error: unknown): void {
    const seq = req?.seq ?? (error instanceof MalformedRequest ? error.seq : "");
    const cmd = req?.cmd ?? (error instanceof MalformedRequest ? error.cmd : "");
    if (error instanceof Disconnect) {
      if (error.reply) {
        this.#count(error.reply.code);
        conn.send(
          encodeError(seq, cmd, error.reply.code, error.message, {
            retryMs: error.retryMs,
            data: error.reply.data,
          }),
        );
      }
      this.#deps.disconnect(conn, error.closeCode, error.message, error.closeReason);
      return;
    }
    let e: ReplyError;
    if (error instanceof ReplyError) e = error;
    else if (error instanceof StorageError) {
      this.#deps.log.warning("{cmd}: {error}", { cmd, error: error.message });
      e = new ReplyError(Code.Unavailable, STORAGE_UNAVAILABLE, { retryMs: STORAGE_RETRY_MS });
    } else {
      this.#deps.log.error("handler {cmd} failed: {error}", {
        cmd,
        error: String((error as Error)?.stack ?? error),
      });
      e = new ReplyError(Code.ServerError, "internal error");
    }
    this.#count(e.code);
    conn.send(encodeError(seq, cmd, e.code, e.message, { retryMs: e.retryMs, data: e.data }));
  }

  #count(code: number): void {
    this.#deps.counters.errors.inc({ code: String(code) });
  }
}
