/**
 * The envelope (PROTOCOL.md A.2): parsing a request frame and encoding replies. Runtime-neutral: no
 * sockets here, so every rule is testable with plain strings.
 *
 * @example
 * ```ts
 * const req = parseRequest('{"seq":"1","cmd":"ping"}');
 * const text = encodeReply(req.seq, req.cmd, 200, "pong");
 * ```
 * @module
 */
import { Code, codeMessage } from "./codes.ts";
import { ReplyError } from "./errors.ts";
import { assertWellFormed } from "./validate.ts";

/** A parsed client request; `data` is always an object (absent → `{}`). */
export interface Request {
  seq: string;
  cmd: string;
  data: Record<string, unknown>;
  /** Alias spellings (`userID`, `appID`, `msgID`) the client used, for echoing them back. */
  spellings?: ReadonlySet<string>;
}

/** A request that failed to parse far enough to know its `seq`/`cmd` still answers with what was read. */
export class MalformedRequest extends ReplyError {
  constructor(message: string, readonly seq = "", readonly cmd = "") {
    super(Code.ParameterIllegal, message);
    this.name = "MalformedRequest";
  }
}

/** Key spellings accepted on input → the canonical spelling used inside the server. */
const KEY_ALIASES: Readonly<Record<string, string>> = { userID: "userId", appID: "appId", msgID: "msgId" };

/**
 * Parse one text frame into a {@linkcode Request}. Throws {@linkcode MalformedRequest} (1001) for
 * non-JSON, non-object, non-string `seq`/`cmd`, or non-object `data` when `needsObject(cmd)` says
 * the command reads its data (the default: every command). A command that does not (`ping` takes
 * anything, PROTOCOL.md A.4) gets `{}` for data that is not an object.
 *
 * @example
 * ```ts
 * parseRequest('{"seq":"a","cmd":"login","data":{"userID":"bob","appID":101}}').data.userId; // "bob"
 * ```
 */
export function parseRequest(text: string, needsObject: (cmd: string) => boolean = () => true): Request {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MalformedRequest("Request is not valid JSON");
  }
  if (!isPlainObject(value)) throw new MalformedRequest("Request must be a JSON object");
  const { seq, cmd, data } = value;
  if (typeof seq !== "string") throw new MalformedRequest("seq must be a string");
  if (typeof cmd !== "string") throw new MalformedRequest("cmd must be a string", seq);
  const object = isPlainObject(data);
  if (!object && data !== undefined && data !== null && needsObject(cmd)) {
    throw new MalformedRequest("data must be an object", seq, cmd);
  }
  wellFormed(text, value, seq, cmd);
  const body = object ? data : {};
  if (!hasAlias(body)) return { seq, cmd, data: body }; // the common case: nothing to rename or copy
  const { data: normalised, spellings } = normaliseKeys(body);
  return spellings ? { seq, cmd, data: normalised, spellings } : { seq, cmd, data: normalised };
}

/** Lone surrogates anywhere in the request: 1001, echoing seq and cmd when they are well-formed themselves. */
function wellFormed(text: string, value: unknown, seq: string, cmd: string): void {
  try {
    assertWellFormed(text, value);
  } catch (error) {
    const ok = (s: string) => s.isWellFormed() ? s : "";
    throw new MalformedRequest((error as Error).message, ok(seq), ok(cmd));
  }
}

function hasAlias(data: Record<string, unknown>): boolean {
  for (const alias in KEY_ALIASES) if (alias in data) return true;
  return false;
}

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Map `userID`/`appID`/`msgID` to `userId`/`appId`/`msgId` (the `...Id` spelling wins when both are
 * present); `spellings` lists the aliases the client used.
 *
 * @example
 * ```ts
 * normaliseKeys({ userID: "bob" }); // { data: { userId: "bob" }, spellings: Set { "userID" } }
 * ```
 */
export function normaliseKeys(
  data: Record<string, unknown>,
): { data: Record<string, unknown>; spellings?: Set<string> } {
  let out: Record<string, unknown> | undefined;
  let spellings: Set<string> | undefined;
  for (const alias in KEY_ALIASES) {
    if (!(alias in data)) continue;
    out ??= { ...data };
    const canonical = KEY_ALIASES[alias];
    if (!(canonical in data)) out[canonical] = data[alias];
    delete out[alias];
    (spellings ??= new Set()).add(alias);
  }
  return out ? { data: out, spellings } : { data };
}

/**
 * The key name to echo for `canonical` ("userId" → "userID" when the client wrote `userID`).
 *
 * @example
 * ```ts
 * echoKey(parseRequest('{"seq":"1","cmd":"login","data":{"userID":"x"}}'), "userId"); // "userID"
 * ```
 */
export function echoKey(req: Pick<Request, "spellings">, canonical: "userId" | "appId" | "msgId"): string {
  const alias = canonical.slice(0, -1) + "D";
  return req.spellings?.has(alias) ? alias : canonical;
}

/**
 * `data` with its `canonical` key in the spelling the client used (same key order; `data` itself when
 * the client used the canonical spelling), for replies that echo a key of the request.
 *
 * @example
 * ```ts
 * const req = parseRequest('{"seq":"1","cmd":"recallMsg","data":{"msgID":"m1"}}');
 * withEchoKey(req, "msgId", { msgId: "m1", recalledAt: 5 }); // { msgID: "m1", recalledAt: 5 }
 * ```
 */
export function withEchoKey(
  req: Pick<Request, "spellings">,
  canonical: "userId" | "appId" | "msgId",
  data: Record<string, unknown>,
): Record<string, unknown> {
  const key = echoKey(req, canonical);
  if (key === canonical || !(canonical in data)) return data;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) out[k === canonical ? key : k] = v;
  return out;
}

/**
 * Encode a reply (or push) envelope.
 *
 * @example
 * ```ts
 * encodeReply("1", "heartbeat", 200, null);
 * // '{"seq":"1","cmd":"heartbeat","response":{"code":200,"codeMsg":"Success","data":null}}'
 * ```
 */
export function encodeReply(seq: string, cmd: string, code: number, data: unknown, codeMsg?: string): string {
  return JSON.stringify({ seq, cmd, response: { code, codeMsg: codeMsg ?? codeMessage(code), data } });
}

/**
 * The reply to a failed request: `data` is `{error, ...extra}` plus `retryMs` when given.
 *
 * @example
 * ```ts
 * encodeError("7", "sendMsg", 1024, "storage unavailable", { retryMs: 1000 });
 * ```
 */
export function encodeError(
  seq: string,
  cmd: string,
  code: number,
  message: string,
  extra: { retryMs?: number; data?: Record<string, unknown> } = {},
): string {
  const data: Record<string, unknown> = { error: message, ...extra.data };
  if (extra.retryMs !== undefined) data.retryMs = extra.retryMs;
  return encodeReply(seq, cmd, code, data);
}
