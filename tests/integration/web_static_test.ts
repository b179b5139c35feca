/**
 * The web client's HTTP side (src/http/static.ts): page routes, asset types, security headers,
 * path confinement and /web/config.json.
 * @module
 */
import assert from "node:assert/strict";
import { withServer } from "../support/helpers.ts";

async function get(port: number, path: string): Promise<Response> {
  return await fetch(`http://127.0.0.1:${port}${path}`);
}

Deno.test("web: page, assets and security headers", async () => {
  await withServer({}, async (server) => {
    for (const path of ["/", "/home/index?appId=101", "/index.html"]) {
      const res = await get(server.httpPort, path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      const csp = res.headers.get("content-security-policy") ?? "";
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      const html = await res.text();
      assert.match(html, /<script type="module" src="\/web\/app.js"><\/script>/);
      assert.doesNotMatch(html, /<script>|style=/); // nothing inline: the CSP would block it
    }
    const types: Record<string, RegExp> = {
      "/web/app.js": /^text\/javascript/,
      "/web/client.js": /^text\/javascript/,
      "/web/view.js": /^text\/javascript/,
      "/web/style.css": /^text\/css/,
    };
    for (const [path, type] of Object.entries(types)) {
      const res = await get(server.httpPort, path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", type);
      await res.body?.cancel();
    }
  });
});

Deno.test("web: only files of src/web are served", async () => {
  await withServer({}, async (server) => {
    for (
      const path of [
        "/web/nope.js",
        "/web/../deno.json",
        "/web/%2e%2e/server.ts",
        "/web/..%2fserver.ts",
        "/src/web/app.js",
      ]
    ) {
      const res = await get(server.httpPort, path);
      assert.equal(res.status, 404, path);
      await res.body?.cancel();
    }
  });
});

Deno.test("web: /web/config.json tells the page where the WebSocket is", async () => {
  await withServer({}, async (server) => {
    const config = await (await get(server.httpPort, "/web/config.json")).json();
    assert.deepEqual(config, {
      wsUrl: null,
      wsPort: server.wsPort,
      wsPath: "/im",
      heartbeatInterval: 30,
      authMode: "none",
      appIds: [101, 102, 103, 104],
      editWindow: 86400,
      recallWindow: 120,
    });
  });
  await withServer(
    { app: { webSocketUrl: "chat.example.com:443" }, auth: { mode: "jwt", secret: "s".repeat(32) } },
    async (server) => {
      const config = await (await get(server.httpPort, "/web/config.json")).json();
      assert.equal(config.wsUrl, "chat.example.com:443");
      assert.equal(config.authMode, "jwt");
    },
  );
});
