/**
 * The format of messages nodes publish to each other through Redis: a JSON header array, a newline,
 * then the frame text as is (no double encoding).
 *
 * | header | on | meaning |
 * |---|---|---|
 * | `["d", app, user, seq, origin, msgId]` | node channel | an inbox entry for the user's connections |
 * | `["u", app, user, except]` | node channel | an ephemeral frame (receipt, room event) |
 * | `["k", app, user, keep]` | node channel | kick the user's connections but `keep` |
 * | `["x", app, user, conn]` | node channel | an operator closes the user's connection `conn` ("" = all; 4010) |
 * | `["p", app, fromNode]` | app channel | presence changes `{user: "enter"\|"exit"}` (the body) |
 *
 * @example
 * ```ts
 * const payload = encodeWire(["d", 101, "bob", 7, "", "m1"], frame);
 * const { header, body } = decodeWire(payload);
 * ```
 * @module
 */

/** A published message's header. */
export type WireHeader =
  | ["d", number, string, number, string, string]
  | ["u", number, string, string]
  | ["k", number, string, string]
  | ["x", number, string, string]
  | ["p", number, string];

/** Header and body as one payload. */
export function encodeWire(header: WireHeader, body = ""): string {
  return JSON.stringify(header) + "\n" + body;
}

/** Split a payload; throws on a malformed header (callers count and log it). */
export function decodeWire(payload: string): { header: WireHeader; body: string } {
  const nl = payload.indexOf("\n");
  const header = JSON.parse(nl < 0 ? payload : payload.slice(0, nl));
  if (!Array.isArray(header) || typeof header[0] !== "string" || typeof header[1] !== "number") {
    throw new Error("malformed cluster message header");
  }
  return { header: header as WireHeader, body: nl < 0 ? "" : payload.slice(nl + 1) };
}
