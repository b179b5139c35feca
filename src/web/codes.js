// @ts-check
/**
 * Protocol codes shared by the server and the browser client: the server's `src/protocol/codes.ts`
 * re-exports this file and `client.js` imports it, so a code has one definition (PROTOCOL.md A.3, B.3,
 * C and docs/PROTOCOL.md sections 3 and 4).
 *
 * @example
 * ```js
 * import { Code } from "/web/codes.js";
 * if (reply.code === Code.Unavailable) retryLater(reply.data.retryMs);
 * ```
 * @module
 */

/** Result codes carried in `response.code` (200 and 1000–1010 are the Go servers'). */
export const Code = /** @type {const} */ ({
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
  UnknownMessage: 1026,
  NotSender: 1027,
  WindowPassed: 1028,
  Blocked: 1029,
  IdempotencyConflict: 1030,
});

/** English text of each code (`codeMsg`); pushes say "Ok" for 200, as the Go servers did. */
export const CODE_MESSAGES = /** @type {const} */ ({
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
  1026: "Unknown message",
  1027: "Not the sender",
  1028: "Window passed",
  1029: "Blocked",
  1030: "clientMsgId already used for a different message",
});

/**
 * WebSocket close codes the server uses. Standard: 1001 going away (shutdown), 1003 unsupported data
 * (binary frame), 1009 message too big, 1012 service restart (drain, storage reset). 4000–4999 are ours.
 */
export const CloseCode = /** @type {const} */ ({
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
  LoginTimeout: 4009,
  AdminDisconnect: 4010,
});
