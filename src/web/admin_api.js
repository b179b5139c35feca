// No `// @ts-check` pragma: like app.js, the console's scripts are type-checked with the DOM lib by
// tests/browser/admin_test.ts, not by the project-wide `deno check` (which has no DOM lib).
/**
 * The admin API as the console page calls it (docs/ADMIN.md): JSON over fetch with the admin key in
 * `Authorization: Bearer` — never in a URL. The key lives in sessionStorage only (this tab, until it
 * closes or the operator signs out).
 *
 * @example
 * ```js
 * const api = new AdminApi(sessionStorage);
 * api.setKey("…");
 * const overview = await api.get("/overview");
 * ```
 */

const KEY_ITEM = "imserver.adminKey";

/** A refused or failed call: HTTP status, protocol code and the server's message. */
export class AdminApiError extends Error {
  /**
   * @param {number} status
   * @param {number} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.name = "AdminApiError";
    this.status = status;
    this.code = code;
  }
}

/** Calls `/api/v1/admin/...` with the key kept in `storage`. */
export class AdminApi {
  /** @param {Storage} storage sessionStorage */
  constructor(storage) {
    this.storage = storage;
  }

  /** The key of this tab, or "". */
  get key() {
    return this.storage.getItem(KEY_ITEM) ?? "";
  }

  /** @param {string} key */
  setKey(key) {
    this.storage.setItem(KEY_ITEM, key);
  }

  /** Forget the key. */
  clearKey() {
    this.storage.removeItem(KEY_ITEM);
  }

  /**
   * GET `/api/v1/admin${path}` with `query` parameters; resolves to the reply's `data`.
   * @param {string} path
   * @param {Record<string, string | number | undefined>} [query]
   */
  get(path, query = {}) {
    return this.#call("GET", path, query, undefined);
  }

  /**
   * POST a JSON body to `/api/v1/admin${path}`.
   * @param {string} path
   * @param {Record<string, string | number | undefined>} query
   * @param {Record<string, unknown>} [body]
   */
  post(path, query, body = {}) {
    return this.#call("POST", path, query, body);
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {Record<string, string | number | undefined>} query
   * @param {Record<string, unknown> | undefined} body
   * @returns {Promise<any>}
   */
  async #call(method, path, query, body) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
    const qs = params.size ? `?${params}` : "";
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${this.key}` };
    if (body) headers["content-type"] = "application/json";
    let res;
    try {
      res = await fetch(`/api/v1/admin${path}${qs}`, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        cache: "no-store",
      });
    } catch {
      throw new AdminApiError(0, 0, "the server cannot be reached");
    }
    /** @type {any} */
    let reply = null;
    try {
      reply = await res.json();
    } catch {
      // not JSON: a proxy's error page
    }
    if (!res.ok || !reply || reply.code !== 200) {
      throw new AdminApiError(res.status, reply?.code ?? 0, reply?.msg ?? `HTTP ${res.status}`);
    }
    return reply.data;
  }
}

/**
 * What to tell the operator about a refused key.
 * @param {AdminApiError} e
 */
export function keyProblem(e) {
  if (e.status === 401) return "That key was refused: it is not one of the server's admin.keys.";
  if (e.status === 403) return "That is an API key (api.keys), not an admin key.";
  if (e.status === 404) return e.message;
  return `The server did not answer: ${e.message}`;
}
