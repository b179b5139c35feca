/**
 * Static files of the browser client (src/web), served at `/`, `/home/index` and `/web/*`.
 * Files are read through `import.meta.url`, so they also work from a compiled binary that
 * embeds src/web with `--include`.
 * @module
 */
import type { ServerContext } from "../context.ts";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  json: "application/json",
};

const webRoot = new URL("../web/", import.meta.url);
const cache = new Map<string, Uint8Array>();

/** A Response for a client file, or undefined when `path` is not one. */
export async function serveStatic(path: string, _ctx: ServerContext): Promise<Response | undefined> {
  let file: string;
  if (path === "/" || path === "/home/index" || path === "/index.html") file = "index.html";
  else if (/^\/web\/[a-z0-9_-]+\.(js|css|svg|json)$/.test(path)) file = path.slice(5);
  else return undefined;
  let bytes = cache.get(file);
  if (!bytes) {
    try {
      bytes = await Deno.readFile(new URL(file, webRoot));
    } catch {
      return undefined;
    }
    cache.set(file, bytes);
  }
  const ext = file.slice(file.lastIndexOf(".") + 1);
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    headers: {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy":
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'",
    },
  });
}
