/**
 * Router: maps `cmd` to a handler and turns results and errors into reply frames.
 *
 * @example
 * ```ts
 * const router = new Router();
 * router.add("ping", () => "pong");
 * const reply = await router.dispatch(ctx, client, '{"seq":"1","cmd":"ping"}');
 * ```
 * @module
 */
import type { Client } from "./client.ts";
import type { ServerContext } from "./context.ts";
import { ImError } from "./errors.ts";
import { Code, encodeReply, parseRequest, type Request } from "./protocol.ts";

/** What a handler gets; its return value becomes the reply's `data` (undefined → null). */
export type Handler = (ctx: ServerContext, client: Client, req: Request) => unknown | Promise<unknown>;

/** Options of a route. */
export interface RouteOptions {
  /** The command needs a logged-in connection (code 1000 otherwise). */
  auth?: boolean;
}

/** Sentinel a handler returns when it has already written its own reply. */
export const REPLIED = Symbol("replied");

/** The command registry. */
export class Router {
  readonly #routes = new Map<string, { handler: Handler; auth: boolean }>();

  /** Register `cmd`. */
  add(cmd: string, handler: Handler, options: RouteOptions = {}): this {
    this.#routes.set(cmd, { handler, auth: options.auth ?? false });
    return this;
  }

  /** Registered command names. */
  get commands(): string[] {
    return [...this.#routes.keys()];
  }

  /**
   * Handle one text frame; resolves to the reply frame (or undefined when the handler replied
   * itself). Never rejects: every failure becomes an error reply.
   */
  async dispatch(ctx: ServerContext, client: Client, text: string): Promise<string | undefined> {
    let req: Request | undefined;
    try {
      req = parseRequest(text);
      const route = this.#routes.get(req.cmd);
      ctx.counters.frames.inc({ cmd: route ? req.cmd : "(unknown)" });
      if (!route) throw new ImError(Code.RouteNotExist, `unknown cmd "${req.cmd.slice(0, 64)}"`);
      if (route.auth && !client.identity) throw new ImError(Code.NotLoggedIn, "login first");
      const data = await route.handler(ctx, client, req);
      if (data === REPLIED) return undefined;
      return encodeReply(req.seq, req.cmd, Code.Success, data ?? null);
    } catch (error) {
      return errorReply(ctx, client, req, error);
    }
  }
}

function errorReply(
  ctx: ServerContext,
  client: Client,
  req: Request | undefined,
  error: unknown,
): string | undefined {
  if (!(error instanceof ImError)) {
    ctx.log.error("handler {cmd} failed: {error}", {
      cmd: req?.cmd,
      error: String((error as Error)?.stack ?? error),
    });
    error = new ImError(Code.ServerError, "internal error");
  }
  const e = error as ImError;
  ctx.counters.errors.inc({ code: String(e.code) });
  const seq = req?.seq ?? e.options.seq ?? "";
  const cmd = req?.cmd ?? e.options.cmd ?? "";
  const data: Record<string, unknown> = { error: e.message, ...e.options.data };
  if (e.options.retryMs !== undefined) data.retryMs = e.options.retryMs;
  const text = encodeReply(seq, cmd, e.code, data);
  if (e.options.closeCode !== undefined) {
    client.send(text);
    const hint = e.options.retryMs !== undefined ? `; retry in ${e.options.retryMs} ms` : "";
    client.close(e.options.closeCode, e.message + hint);
    return undefined;
  }
  return text;
}
