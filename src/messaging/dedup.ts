/**
 * Idempotent sends. A send with an idempotency key (`clientMsgId` from a WebSocket client, `msgId` from a
 * backend) is all-or-nothing from the client's view (docs/MESSAGING.md §4):
 *
 * 1. **Claim first**: the key is recorded with the send's binding (command, target, a digest of the
 *    body) and the msgId and time chosen for it, before anything is appended. If that fails, the client
 *    gets 1024 and nothing was stored.
 * 2. Appends are **idempotent by msgId** per inbox, so a retry re-runs the same send with the same msgId:
 *    inboxes that already have it answer their seq, the others get it. A retry after a partial failure
 *    completes the send; a retry after success changes nothing and answers the same msgId and seqs.
 * 3. A key reused for a different command, target or body is refused with 1030, never swallowed — for a
 *    client's `clientMsgId`. A backend's `msgId` keeps the Go servers' rule (PROTOCOL.md A.6): a repeated
 *    msgId answers `duplicate: true` and sends nothing, whatever the body.
 *
 * Key formats live here and nowhere else.
 *
 * @example
 * ```ts
 * const claim = await claimSend(store, clientKey(101, "alice", "c-1"), binding, ids.msgId(), clock.now());
 * claim.duplicate; // false the first time
 * ```
 * @module
 */
import { createHash } from "node:crypto";
import { Code } from "../protocol/codes.ts";
import { ReplyError } from "../protocol/errors.ts";
import type { Store } from "../store/store.ts";

/** What a key is bound to: a retry must match it. */
export interface SendBinding {
  /** "direct", "room" or "app". */
  kind: string;
  /** Recipient, room, or "" for app-wide. */
  target: string;
  /** Sender as the store sees it. */
  from: string;
  type: string;
  msg: string;
}

/** The msgId and time a send uses; the same for every retry with its key. */
export interface ClaimedSend {
  msgId: string;
  time: number;
  /** True when the key was claimed by an earlier attempt. */
  duplicate: boolean;
  /** False when the earlier attempt was a different message: nothing may be sent for this one. */
  rerun: boolean;
}

/** What a key reused for a different message gets: 1030, or the Go servers' silent duplicate. */
export type ReusePolicy = "refuse" | "duplicate";

/** Idempotency key of a WebSocket client's `clientMsgId`: per sender. */
export function clientKey(appId: number, userId: string, clientMsgId: string): string {
  return `cm\u0000${appId}\u0000${userId}\u0000${clientMsgId}`;
}

/** Idempotency key of a backend's `msgId` (HTTP API): per app. */
export function backendKey(appId: number, msgId: string): string {
  return `mid\u0000${appId}\u0000${msgId}`;
}

function digest(b: SendBinding): string {
  return createHash("sha1").update(`${b.kind}\u0000${b.target}\u0000${b.from}\u0000${b.type}\u0000${b.msg}`)
    .digest("base64").slice(0, 16);
}

/**
 * Claim `key` for a send, or find the earlier attempt's msgId and time. Throws `StorageError` when the
 * claim cannot be recorded (nothing was stored) and `ReplyError(1030)` when the key belongs to a
 * different send.
 */
export async function claimSend(
  store: Store,
  key: string,
  binding: SendBinding,
  msgId: string,
  time: number,
  reuse: ReusePolicy = "refuse",
): Promise<ClaimedSend> {
  const bound = digest(binding);
  const held = await store.claim(key, JSON.stringify({ b: bound, m: msgId, t: time }));
  if (held === null) return { msgId, time, duplicate: false, rerun: true };
  let earlier: { b?: unknown; m?: unknown; t?: unknown };
  try {
    earlier = JSON.parse(held);
  } catch {
    earlier = {};
  }
  const valid = typeof earlier.m === "string" && typeof earlier.t === "number";
  if (valid && earlier.b === bound) {
    return { msgId: earlier.m as string, time: earlier.t as number, duplicate: true, rerun: true };
  }
  if (reuse === "duplicate") {
    return {
      msgId: valid ? earlier.m as string : msgId,
      time: valid ? earlier.t as number : time,
      duplicate: true,
      rerun: false,
    };
  }
  throw new ReplyError(Code.IdempotencyConflict, "this id was already used for a different message");
}
