/**
 * Static files of the browser client (src/web), served at `/`, `/home/index` and `/web/*`,
 * plus `/web/config.json`, which tells the page where the WebSocket listener is.
 * Files are read through `import.meta.url`, so they also work from a compiled binary that
 * embeds src/web with `--include`.
 * @module
 */
import type { Config } from "../config/load.ts";
import { SCHEMA } from "../config/schema.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  json: "application/json",
};

/** Headers of every file served to browsers: strict CSP (no inline script or style), no framing. */
export const STATIC_HEADERS: Readonly<Record<string, string>> = {
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
    "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

// In the one-file bundle (dist/imserver.js) this code is no longer src/http/static.ts: `deno task bundle`
// copies src/web to dist/web, next to the bundle (see src/embedded.ts).
const webRoot = new URL(import.meta.url.endsWith("/http/static.ts") ? "../web/" : "./web/", import.meta.url);

/** What the page needs to connect (GET /web/config.json). */
export interface WebConfig {
  /** The configured public WebSocket address (`host:port` or a full URL), or null: use the page's host. */
  wsUrl: string | null;
  /** Bound WebSocket port, used with the page's host when `wsUrl` is null. */
  wsPort: number;
  /** WebSocket path. */
  wsPath: string;
  /** Seconds between client heartbeats (the login reply repeats it). */
  heartbeatInterval: number;
  /** `none` or `jwt`: the page shows a token field for jwt. */
  authMode: string;
  /** Allowed appIds (empty = any). */
  appIds: number[];
  /** How long after sending a message its sender may edit / recall it (s): the page offers it only then. */
  editWindow: number;
  recallWindow: number;
}

/**
 * The page's connection settings. `app.webSocketUrl` is used only when changed from its
 * default (`localhost:8089` would be wrong for every browser not on the server itself).
 */
export function webConfig(
  config: Pick<Config, "app" | "heartbeat" | "auth" | "im">,
  wsPort: number,
): WebConfig {
  const { app, heartbeat, auth, im } = config;
  const configured = app.webSocketUrl !== SCHEMA.app.webSocketUrl.default && app.webSocketUrl !== "";
  return {
    wsUrl: configured ? app.webSocketUrl : null,
    wsPort,
    wsPath: "/im",
    heartbeatInterval: heartbeat.interval,
    authMode: auth.mode,
    appIds: im.appIds,
    editWindow: im.editWindow,
    recallWindow: im.recallWindow,
  };
}

/** The web client's files, read once each and kept (they are part of the build). */
export class StaticFiles {
  readonly #cache = new Map<string, Uint8Array>();

  /** `config` answers `/web/config.json`. */
  constructor(readonly config: () => WebConfig) {}

  /** A Response for a client file, or undefined when `path` is not one. */
  serve(path: string): Promise<Response | undefined> {
    if (path === "/web/config.json") {
      return Promise.resolve(
        new Response(JSON.stringify(this.config()), {
          headers: { ...STATIC_HEADERS, "content-type": TYPES.json },
        }),
      );
    }
    let file: string;
    if (path === "/" || path === "/home/index" || path === "/index.html") file = "index.html";
    else if (/^\/web\/[a-z0-9_-]+\.(js|css|svg|json)$/.test(path)) file = path.slice(5);
    else return Promise.resolve(undefined);
    return this.file(file);
  }

  /** A file of src/web by name (e.g. "admin.html"), or undefined when there is none. */
  async file(file: string): Promise<Response | undefined> {
    let bytes = this.#cache.get(file);
    if (!bytes) {
      try {
        bytes = await Deno.readFile(new URL(file, webRoot));
      } catch {
        return undefined;
      }
      this.#cache.set(file, bytes);
    }
    const ext = file.slice(file.lastIndexOf(".") + 1);
    return new Response(bytes as Uint8Array<ArrayBuffer>, {
      headers: { ...STATIC_HEADERS, "content-type": TYPES[ext] ?? "application/octet-stream" },
    });
  }
}
