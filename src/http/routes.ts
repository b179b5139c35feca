/**
 * HTTP route tables: each route has a method, a named path pattern (`/api/v1/users/:userId`, which is
 * also its metrics label), whether it is a Go-compatible endpoint (HTTP 200 whatever the code, GET or
 * POST accepted) and what key it needs (`app`: an API key covering the request's appId; `node`: node-wide
 * data, unrestricted API keys only; `admin`: an admin key, not an API key — src/admin/keys.ts). Tables are built per server instance (http/compat.ts, http/v1.ts).
 *
 * @example
 * ```ts
 * const route: HttpRoute = { method: "GET", path: "/api/v1/users/:userId", compat: false, scope: "app",
 *   handler: (params, path) => ({ userId: path.userId }) };
 * const table = new RouteTable([route]);
 * table.match("/api/v1/users/bob"); // { route, path: { userId: "bob" } }
 * ```
 * @module
 */
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";

/** Merged query and body parameters. */
export type Params = Record<string, unknown>;

/** Who called an `admin` route (the admin guard's answer). */
export interface RouteCaller {
  /** The admin key's fingerprint, for audit lines. */
  fingerprint: string;
}

/** What a handler gets besides its parameters. */
export interface RouteContext {
  req: Request;
  /** The admin guard's answer, on `admin` routes. */
  caller?: RouteCaller;
  /** Alias key spellings (`userID`, `appID`, `msgID`) the caller used: replies that echo a key use them. */
  spellings?: ReadonlySet<string>;
}

/** One endpoint. */
export interface HttpRoute {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** Path with `:name` segments. */
  path: string;
  /** Go-compatible endpoint: always HTTP 200, GET or POST. */
  compat: boolean;
  /** What the key must cover: the request's appId, node-wide data, or admin (an admin key). */
  scope: "app" | "node" | "admin";
  /** Resolves to the reply's `data`; throws ReplyError for an error code. */
  handler: (params: Params, path: Record<string, string>, ctx: RouteContext) => unknown | Promise<unknown>;
}

interface Compiled {
  route: HttpRoute;
  pattern: RegExp;
  names: string[];
}

/** Routes matched by path, in the order given. */
export class RouteTable {
  readonly #compiled: Compiled[];

  constructor(routes: readonly HttpRoute[]) {
    this.#compiled = routes.map((route) => {
      const names: string[] = [];
      const source = route.path.split("/").map((part) => {
        if (!part.startsWith(":")) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        names.push(part.slice(1));
        return "([^/]+)";
      }).join("/");
      return { route, pattern: new RegExp(`^${source}$`), names };
    });
  }

  /**
   * The route for `pathname` and `method` with its decoded path parameters. When the path exists only
   * under other methods, the first of them is returned (the caller answers 405); undefined when no path
   * matches.
   */
  match(pathname: string, method?: string): { route: HttpRoute; path: Record<string, string> } | undefined {
    let first: { route: HttpRoute; path: Record<string, string> } | undefined;
    for (const c of this.#compiled) {
      const m = c.pattern.exec(pathname);
      if (!m) continue;
      const path: Record<string, string> = {};
      c.names.forEach((name, i) => path[name] = decodeSegment(name, m[i + 1]));
      if (method === undefined || c.route.method === method) return { route: c.route, path };
      first ??= { route: c.route, path };
    }
    return first;
  }
}

/** A %-decoded path segment; a bad escape is the client's mistake (1001), not a server fault. */
function decodeSegment(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new ReplyError(Code.ParameterIllegal, `${name} is not valid URL encoding`);
  }
}
