/**
 * Wire protocol: envelope types, result codes, close codes, parsing and encoding.
 *
 * Runtime-neutral: no sockets here, so every rule can be unit-tested with plain strings.
 *
 * @example
 * ```ts
 * const req = parseRequest('{"seq":"1","cmd":"ping"}');
 * const text = encodeReply(req.seq, req.cmd, Code.Success, "pong");
 * ```
 * @module
 */
import { ImError } from "./errors.ts";

/** Result codes carried in `response.code` (PROTOCOL.md A.3 and B.3). */
export const Code = {
  Success: 200,
  NotLoggedIn: 1000,
  ParameterIllegal: 1001,
  UnauthorizedUserId: 1002,
  Unauthorized: 1003,
  ServerError: 1004,
  NoData: 1005,
  OperationFailure: 1009,
  RouteNotExist: 1010,
  FrameTooLarge: 1011,
  RateLimited: 1012,
  TooManyConnections: 1013,
  TokenExpired: 1014,
  RecipientUnknown: 1015,
  InboxGap: 1016,
  MessageTooLarge: 1017,
  RoomNotFound: 1018,
  NotRoomMember: 1019,
  CrossApp: 1020,
  TooManyRooms: 1021,
  RoomFull: 1022,
  LoginRateLimited: 1023,
  Unavailable: 1024,
  SendToSelf: 1025,
} as const;

/** One of the numeric values of {@linkcode Code}. */
export type CodeValue = typeof Code[keyof typeof Code];

const CODE_MESSAGES: Record<number, string> = {
  200: "Success",
  1000: "Not logged in",
  1001: "Parameter illegal",
  1002: "Illegal user id",
  1003: "Unauthorized",
  1004: "Server error",
  1005: "No data",
  1009: "Operation failure",
  1010: "Route does not exist",
  1011: "Frame too large",
  1012: "Rate limited",
  1013: "Too many connections",
  1014: "Token expired",
  1015: "Recipient unknown",
  1016: "Inbox gap: older entries were trimmed",
  1017: "Message too large",
  1018: "Room not found",
  1019: "Not a member of the room",
  1020: "Cross-app access refused",
  1021: "Too many rooms",
  1022: "Room full",
  1023: "Too many login attempts",
  1024: "Service unavailable",
  1025: "Cannot send to yourself",
};

/** English text for a code; pushes use "Ok" for 200 as the Go servers did. */
export function codeMessage(code: number): string {
  return CODE_MESSAGES[code] ?? "Unknown";
}

/**
 * WebSocket close codes the server uses (4000–4999 are ours, see docs/PROTOCOL.md).
 * Standard ones: 1001 going away (shutdown), 1003 unsupported data (binary frame),
 * 1009 message too big, 1012 service restart (drain).
 */
export const CloseCode = {
  GoingAway: 1001,
  UnsupportedData: 1003,
  MessageTooBig: 1009,
  ServiceRestart: 1012,
  Kicked: 4000,
  HeartbeatTimeout: 4001,
  TokenExpired: 4002,
  RateLimited: 4003,
  SlowConsumer: 4004,
  TooManyConnections: 4005,
  OriginRefused: 4006,
  LoginRateLimited: 4007,
  /** Not logged in within `heartbeat.loginTimeout` (4008 is reserved). */
  LoginTimeout: 4009,
} as const;

/** A parsed client request; `data` is always an object (absent → `{}`). */
export interface Request {
  seq: string;
  cmd: string;
  data: Record<string, unknown>;
}

/** Key spellings accepted on input → the canonical spelling used inside the server. */
const KEY_ALIASES: Record<string, string> = { userID: "userId", appID: "appId", msgID: "msgId" };

/**
 * Parse one text frame into a {@linkcode Request}.
 * Throws `ImError(1001)` for non-JSON, non-object, non-string `seq`/`cmd` or non-object `data`.
 *
 * @example
 * ```ts
 * parseRequest('{"seq":"a","cmd":"login","data":{"userID":"bob","appID":101}}').data.userId; // "bob"
 * ```
 */
export function parseRequest(text: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ImError(Code.ParameterIllegal, "Request is not valid JSON");
  }
  if (!isPlainObject(value)) throw new ImError(Code.ParameterIllegal, "Request must be a JSON object");
  const { seq, cmd, data } = value;
  if (typeof seq !== "string") throw new ImError(Code.ParameterIllegal, "seq must be a string");
  if (typeof cmd !== "string") throw new ImError(Code.ParameterIllegal, "cmd must be a string", { seq });
  if (data !== undefined && data !== null && !isPlainObject(data)) {
    throw new ImError(Code.ParameterIllegal, "data must be an object", { seq, cmd });
  }
  return { seq, cmd, data: normaliseKeys(data ?? {}) };
}

/** True for `{...}` values (not arrays, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Map `userID`/`appID`/`msgID` to `userId`/`appId`/`msgId` (the first spelling present wins).
 * Remembers which spelling the client used (see {@linkcode echoKey}).
 */
export function normaliseKeys(data: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const alias in KEY_ALIASES) {
    if (!(alias in data)) continue;
    out ??= { ...data };
    const canonical = KEY_ALIASES[alias];
    if (!(canonical in data)) out[canonical] = data[alias];
    delete out[alias];
    (spellings.get(out) ?? spellings.set(out, new Set()).get(out)!).add(alias);
  }
  return out ?? data;
}

const spellings = new WeakMap<object, Set<string>>();

/** The key name to echo for `canonical` ("userId" → "userID" when the client wrote `userID`). */
export function echoKey(data: Record<string, unknown>, canonical: "userId" | "appId" | "msgId"): string {
  const used = spellings.get(data);
  const alias = canonical.slice(0, -1) + "D";
  return used?.has(alias) ? alias : canonical;
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

/** Encode a server push: code 200 with codeMsg "Ok" (PROTOCOL.md A.5). */
export function encodePush(cmd: string, data: unknown, seq = nextPushSeq()): string {
  return encodeReply(seq, cmd, Code.Success, data, "Ok");
}

let pushCounter = 0;
/** Server-chosen `seq` for pushes: unique per process, cheap to build. */
export function nextPushSeq(): string {
  return `s${(++pushCounter).toString(36)}`;
}

/** The fields of an inbox entry that are the same for every recipient. */
export interface EntryFields {
  msgId: string;
  from: string;
  to: string;
  target: string;
  type: string;
  msg: string;
  time: number;
}

/**
 * Encode everything of a `msg` push except the recipient's `seq`, so a room fan-out
 * stringifies once and only concatenates per member (see {@linkcode entryFrame}).
 */
export function entryFramePrefix(e: EntryFields): string {
  const data = JSON.stringify({
    target: e.target,
    type: e.type,
    msg: e.msg,
    from: e.from,
    to: e.to,
    msgId: e.msgId,
    time: e.time,
  });
  return `{"seq":${JSON.stringify(e.msgId)},"cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":${
    data.slice(0, -1)
  },"seq":`;
}

/** Complete a `msg` push built by {@linkcode entryFramePrefix} with the recipient's seq. */
export function entryFrame(prefix: string, seq: number): string {
  return `${prefix}${seq}}}}`;
}
