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

/** True when `s` has C0 control characters or DEL (refused in ids and room names). */
export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
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
  if (typeof v !== "string" || v === "" || utf8Bytes(v) > maxBytes || hasControlChars(v)) {
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
