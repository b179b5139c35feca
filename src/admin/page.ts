/**
 * The console's page and its chart library: `/admin` serves `src/web/admin.html` (or, with no admin key
 * configured, a short page saying the console is off and how to turn it on), and `/admin/uplot.js` /
 * `/admin/uplot.css` serve uPlot's distribution files from npm, imported as text so that `deno compile`
 * and `deno bundle` carry them (no CDN). Every answer has the strict headers of http/static.ts.
 *
 * @example
 * ```ts
 * const page = new AdminPage(true, staticFiles);
 * await page.serve("/admin"); // the console page
 * await page.serve("/web/app.js"); // undefined: not the console's
 * ```
 * @module
 */
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };
import { STATIC_HEADERS, type StaticFiles } from "../http/static.ts";

/** uPlot's browser build (defines `uPlot`) and its stylesheet, as text (also for offline reports). */
export const UPLOT = { js: uplotJs, css: uplotCss } as const;

const DISABLED = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>imserver admin console</title></head>
<body>
<h1>The admin console is disabled</h1>
<p>No admin key is configured. Set <code>admin.keys</code> in the configuration file (or the
environment variable <code>IM_ADMIN_KEYS</code>) to one or more long random keys and restart the server.
Do not expose /admin to the Internet without TLS in front of it. See docs/ADMIN.md.</p>
</body>
</html>
`;

/** Serves `/admin` and its chart library. */
export class AdminPage {
  constructor(readonly enabled: boolean, readonly files: Pick<StaticFiles, "file">) {}

  /** A Response for a console path, or undefined when `path` is not one. */
  serve(path: string): Promise<Response | undefined> {
    if (path === "/admin" || path === "/admin/") {
      if (!this.enabled) return Promise.resolve(text(DISABLED, "text/html; charset=utf-8", 404));
      return this.files.file("admin.html");
    }
    if (path === "/admin/uplot.js") return Promise.resolve(text(UPLOT.js, "text/javascript; charset=utf-8"));
    if (path === "/admin/uplot.css") return Promise.resolve(text(UPLOT.css, "text/css; charset=utf-8"));
    return Promise.resolve(undefined);
  }
}

function text(body: string, type: string, status = 200): Response {
  return new Response(body, { status, headers: { ...STATIC_HEADERS, "content-type": type } });
}
