/**
 * Field validators shared by WebSocket handlers and the HTTP API. Each throws
 * `ReplyError` with the documented code and names the field.
 *
 * @example
 * ```ts
 * const to = userIdField(data, "to", 19, Code.RecipientUnknown);
 * ```
 * @module
 */
import { ReplyError } from "./errors.ts";
import { Code } from "./codes.ts";

/** UTF-8 length of a string, without allocating. */
export function utf8Bytes(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** True when `s` has control characters — C0, DEL or C1 — (refused in ids and room names). */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** A `\uD800`–`\uDFFF` escape: the only way JSON text that is valid UTF-8 can carry a lone surrogate. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * Refuse (1001) a parsed JSON value holding a string — value or key — that is not well-formed UTF-16 (a
 * lone surrogate). Such a string cannot be stored: SQLite and Redis keep UTF-8, where `"\ud800x"` and
 * `"\udbffx"` both become `"\ufffdx"`, so two ids that differ here would collide in the store. `text` is
 * the JSON the value was parsed from; without a surrogate escape in it nothing is walked. The walk is
 * iterative (deeply nested input cannot exhaust the stack) and bounded by the input's size.
 *
 * @example
 * ```ts
 * const text = '{"to":"\\ud800x"}';
 * assertWellFormed(text, JSON.parse(text)); // throws ReplyError 1001
 * ```
 */
export function assertWellFormed(text: string, value: unknown): void {
  if (!SURROGATE_ESCAPE.test(text)) return;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (!v.isWellFormed()) {
        throw new ReplyError(Code.ParameterIllegal, "strings must be valid Unicode (no lone surrogates)");
      }
    } else if (typeof v === "object" && v !== null) {
      if (Array.isArray(v)) { for (const item of v) stack.push(item); }
      else for (const k in v) stack.push(k, (v as Record<string, unknown>)[k]);
    }
  }
}

/** A userId: non-empty string of at most `maxBytes` UTF-8 bytes, without control characters. */
export function userIdField(
  data: Record<string, unknown>,
  name: string,
  maxBytes: number,
  code: number = Code.UnauthorizedUserId,
): string {
  const v = data[name];
  if (typeof v === "number" && Number.isFinite(v)) {
    return userIdField({ [name]: String(v) }, name, maxBytes, code);
  }
  // A value of the wrong type is a malformed request (1001, as the Go servers' JSON decode
  // failure); an absent, empty or over-long id is an illegal id (`code`).
  if (v !== undefined && v !== null && typeof v !== "string") {
    throw new ReplyError(Code.ParameterIllegal, `${name} must be a string`);
  }
  if (
    typeof v !== "string" || v === "" || utf8Bytes(v) > maxBytes || hasControlChars(v) || !v.isWellFormed()
  ) {
    throw new ReplyError(code, `${name} must be a non-empty string of at most ${maxBytes} UTF-8 bytes`);
  }
  return v;
}

/** An appId: a positive integer, or a string holding one (HTTP query/form values are strings). */
export function appIdField(
  data: Record<string, unknown>,
  name = "appId",
  optional = false,
): number | undefined {
  const v = data[name];
  if ((v === undefined || v === "" || v === null) && optional) return undefined;
  const n = typeof v === "string" && /^\d{1,9}$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 2 ** 31) {
    throw new ReplyError(Code.ParameterIllegal, `${name} must be a non-negative integer`);
  }
  return n;
}

/** A required string field of at most `maxBytes` (code 1001, or `tooLongCode` when too long). */
export function stringField(
  data: Record<string, unknown>,
  name: string,
  maxBytes: number,
  opts: { optional?: boolean; allowEmpty?: boolean; tooLongCode?: number } = {},
): string | undefined {
  const v = data[name];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw new ReplyError(Code.ParameterIllegal, `${name} is required`);
  }
  if (typeof v !== "string") throw new ReplyError(Code.ParameterIllegal, `${name} must be a string`);
  if (v === "" && !opts.allowEmpty) throw new ReplyError(Code.ParameterIllegal, `${name} must not be empty`);
  if (utf8Bytes(v) > maxBytes) {
    throw new ReplyError(
      opts.tooLongCode ?? Code.ParameterIllegal,
      `${name} is longer than ${maxBytes} bytes`,
    );
  }
  return v;
}

/** A non-negative integer field (seq numbers, limits). */
export function intField(
  data: Record<string, unknown>,
  name: string,
  opts: { optional?: boolean; max?: number } = {},
): number | undefined {
  const v = data[name];
  if ((v === undefined || v === null || v === "") && opts.optional) return undefined;
  const n = typeof v === "string" && /^\d{1,15}$/.test(v) ? Number(v) : v;
  if (
    typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || (opts.max !== undefined && n > opts.max)
  ) {
    throw new ReplyError(
      Code.ParameterIllegal,
      `${name} must be an integer ≥ 0${opts.max ? ` and ≤ ${opts.max}` : ""}`,
    );
  }
  return n;
}
