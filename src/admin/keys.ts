/**
 * Admin keys (`admin.keys`, env `IM_ADMIN_KEYS`): the console (`/admin`) and the admin API
 * (`/api/v1/admin/...`) need `Authorization: Bearer <admin key>`. Admin keys are their own set: a key of
 * `api.keys` is refused with 403, an unknown or missing key with 401 (code 1003), and with no admin key
 * configured the console is off (404 with a message saying how to enable it). Keys are compared in
 * constant time over SHA-256 digests, like API keys; logs and the page only ever see a key's
 * fingerprint (the first 12 hex digits of its SHA-256).
 *
 * @example
 * ```ts
 * const guard = new AdminGuard(config.admin.keys, config.api.keys);
 * const caller = guard.check(request); // throws ReplyError (401/403/404) unless an admin key
 * audit.info("kick by {key}", { key: caller.fingerprint });
 * ```
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { parseApiKeys, presentedKey } from "../http/api_keys.ts";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";

/** Who made an admin request. */
export interface AdminCaller {
  /** First 12 hex digits of SHA-256 of the key: names the key in audit lines, never reveals it. */
  fingerprint: string;
}

/** Keys shorter than this are reported at start-up (a warning, not a refusal). */
export const MIN_ADMIN_KEY_LENGTH = 16;

const sha256 = (text: string): Uint8Array => createHash("sha256").update(text).digest();
const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** The fingerprint of a key as audit lines and the page show it. */
export function keyFingerprint(key: string): string {
  return hex(sha256(key)).slice(0, 12);
}

/** Checks that a request carries an admin key. */
export class AdminGuard {
  readonly #admin: Array<{ digest: Uint8Array; fingerprint: string }>;
  readonly #api: Uint8Array[];
  /** Fingerprints of configured admin keys shorter than {@linkcode MIN_ADMIN_KEY_LENGTH}. */
  readonly weakKeys: string[];

  /** `adminKeys` from `admin.keys`; `apiKeys` (`api.keys` entries) only to tell them apart (403). */
  constructor(adminKeys: readonly string[], apiKeys: readonly string[]) {
    const keys = adminKeys.map((k) => k.trim()).filter((k) => k !== "");
    this.#admin = keys.map((k) => ({ digest: sha256(k), fingerprint: keyFingerprint(k) }));
    this.#api = parseApiKeys(apiKeys).map((k) => k.digest);
    this.weakKeys = keys.filter((k) => k.length < MIN_ADMIN_KEY_LENGTH).map(keyFingerprint);
  }

  /** True when at least one admin key is configured. */
  get enabled(): boolean {
    return this.#admin.length > 0;
  }

  /** The caller of an admin request; throws ReplyError 1003 with HTTP 401, 403 or 404. */
  check(req: Request): AdminCaller {
    if (!this.enabled) {
      throw new ReplyError(
        Code.RouteNotExist,
        "the admin console is disabled: set admin.keys (IM_ADMIN_KEYS) to enable it",
        { status: 404 },
      );
    }
    const presented = presentedKey(req);
    if (presented === undefined) {
      throw new ReplyError(Code.Unauthorized, "admin key required (Authorization: Bearer)", { status: 401 });
    }
    const d = sha256(presented);
    let match: string | undefined;
    // Every key is compared, without stopping early: the time does not tell which one matched.
    for (const key of this.#admin) if (timingSafeEqual(key.digest, d) && !match) match = key.fingerprint;
    if (match) return { fingerprint: match };
    let api = false;
    for (const digest of this.#api) if (timingSafeEqual(digest, d)) api = true;
    if (api) throw new ReplyError(Code.Unauthorized, "not an admin key (an api.keys key)", { status: 403 });
    throw new ReplyError(Code.Unauthorized, "invalid admin key", { status: 401 });
  }
}
