/**
 * HTTP API keys (`api.keys`, env `IM_API_KEYS`): when any key is configured, every API call
 * except health/readiness needs `Authorization: Bearer <key>`. A key written `key:101,102` only
 * works for those appIds (and must name one: listing every app is refused). Keys are compared
 * in constant time over SHA-256 digests, so neither content nor length leaks through timing.
 *
 * @example
 * ```ts
 * const authorize = createApiAuthorizer(parseApiKeys(["s3cret", "tenant:101"]));
 * Deno.serve(createHttpHandler(ctx, authorize));
 * ```
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";

/**
 * Authorises an HTTP API call (the one allow-list guard): `appId` is the app the call is about, or
 * undefined for node-wide data (`/metrics`, `/system/state`), which needs an unrestricted key. Throws
 * ReplyError 1003 (no or unknown key) or 1020 (a key limited to other apps).
 */
export type ApiAuthorizer = (req: Request, appId: number | undefined) => void;

/** One configured key: its digest and the appIds it is limited to (undefined = all). */
export interface ApiKey {
  digest: Uint8Array;
  appIds: ReadonlySet<number> | undefined;
}

const digest = (text: string): Uint8Array => createHash("sha256").update(text).digest();

/**
 * Parse `api.keys` entries. The env rule splits `IM_API_KEYS` on commas, which also split
 * `key:101,102`: purely numeric entries that follow an app-limited key are its further appIds.
 */
export function parseApiKeys(entries: readonly string[]): ApiKey[] {
  const out: { key: string; appIds?: Set<number> }[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "") continue;
    const last = out.at(-1);
    if (/^\d+$/.test(entry) && last?.appIds) {
      last.appIds.add(Number(entry));
      continue;
    }
    const colon = entry.lastIndexOf(":");
    const list = colon > 0 ? entry.slice(colon + 1) : "";
    if (colon > 0 && /^\s*\d+(\s*,\s*\d+)*\s*$/.test(list)) {
      out.push({ key: entry.slice(0, colon), appIds: new Set(list.split(",").map((s) => Number(s.trim()))) });
    } else {
      out.push({ key: entry });
    }
  }
  return out.map(({ key, appIds }) => ({ digest: digest(key), appIds }));
}

/** The key a request presents (`Authorization: Bearer <key>`), or undefined. */
export function presentedKey(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  const match = header?.match(/^\s*Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/**
 * Authorizer for `createHttpHandler`. No keys → everything passes (the Go behaviour).
 * Refusals: no/unknown key → 1003 (HTTP 401 on /api/v1); a key not valid for the appId → 1020.
 */
export function createApiAuthorizer(keys: readonly ApiKey[]): ApiAuthorizer {
  if (keys.length === 0) return () => {};
  return (req, appId) => {
    const presented = presentedKey(req);
    if (presented === undefined) {
      throw new ReplyError(Code.Unauthorized, "API key required (Authorization: Bearer)");
    }
    const d = digest(presented);
    let match: ApiKey | undefined;
    // Compare against every key without stopping early: time does not depend on which key matched.
    for (const key of keys) {
      if (timingSafeEqual(key.digest, d) && !match) match = key;
    }
    if (!match) throw new ReplyError(Code.Unauthorized, "invalid API key");
    if (!match.appIds) return;
    if (appId === undefined) throw new ReplyError(Code.CrossApp, "this API key needs an appId");
    if (!match.appIds.has(appId)) {
      throw new ReplyError(Code.CrossApp, `this API key is not valid for appId ${appId}`);
    }
  };
}
