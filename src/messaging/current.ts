/**
 * A message as it is now (PROTOCOL.md C.4, C.7), for everything that shows a message after the fact —
 * `history` and the replay of an inbox (session/delivery.ts): the kept message's edit applied (its text and
 * `editedAt`), a tombstone without the text once recalled (`recalled: true`), and a room message from a user
 * the reader blocked flagged `blocked: true`. The live push is built at send time and flags by the same
 * block lists (messaging/send.ts).
 *
 * @example
 * ```ts
 * const frames = await currentFrames(store, 101, "bob", page); // one read of messages and blocks per page
 * const shown = currentMessage(entry, stored.get(entry.msgId), blocked);
 * ```
 * @module
 */
import { entryFrame, entryFramePrefix, framePrefixFor } from "../protocol/pushes.ts";
import type { InboxEntry, Store, StoredMessage } from "../store/store.ts";

/** A message as shown now: `msg` absent when recalled. */
export type Current<T extends { msg: string }> = Omit<T, "msg"> & {
  msg?: string;
  editedAt?: number;
  recalled?: true;
  blocked?: true;
};

/** Where the current state of messages is read (a `Store` is one). */
export type MessageSource = Pick<Store, "messages" | "blockedUsers">;

/**
 * `base` (a message as it was sent: an inbox entry or a timeline item) as it is now: `stored` is its kept
 * message (undefined: shown as sent); `blocked` flags it for a reader who blocked its sender.
 */
export function currentMessage<T extends { msg: string }>(
  base: T,
  stored: StoredMessage | undefined,
  blocked = false,
): Current<T> {
  let shown: Current<T> = base;
  if (stored?.recalledAt !== undefined) {
    const { msg: _gone, ...rest } = base;
    shown = { ...rest, recalled: true };
  } else if (stored?.editedAt !== undefined) shown = { ...base, msg: stored.msg, editedAt: stored.editedAt };
  return blocked ? { ...shown, blocked: true } : shown;
}

/** Is `m` a room message whose sender `owner` blocked? (Direct ones from a blocked user are never stored.) */
export function blockedFor(m: { target: string; from: string }, blocked: ReadonlySet<string>): boolean {
  return m.target !== "" && blocked.has(m.from);
}

/**
 * What a reader needs to show `items` as they are now, in one read of each kind: the kept messages (when
 * `items` has messages) and the users `owner` blocked (when it has room messages from others).
 */
export async function currentState(
  source: MessageSource,
  appId: number,
  owner: string,
  items: ReadonlyArray<{ msgId: string; from: string; target: string; kind?: string }>,
): Promise<{ stored: Map<string, StoredMessage>; blocked: ReadonlySet<string> }> {
  const ids: string[] = [];
  let rooms = false;
  for (const m of items) {
    if ((m.kind ?? "msg") !== "msg") continue;
    ids.push(m.msgId);
    if (m.target !== "" && m.from !== owner) rooms = true;
  }
  const [stored, blocked] = await Promise.all([
    ids.length > 0 ? source.messages(appId, ids) : new Map<string, StoredMessage>(),
    rooms ? source.blockedUsers(appId, owner) : [],
  ]);
  return { stored, blocked: new Set(blocked) };
}

/**
 * The pushes of inbox entries read back from the store (a replay) for the inbox `owner`, in order: messages
 * as they are now, events as they were appended.
 */
export async function currentFrames(
  source: MessageSource,
  appId: number,
  owner: string,
  entries: readonly InboxEntry[],
): Promise<string[]> {
  const { stored, blocked } = await currentState(source, appId, owner, entries);
  return entries.map((e) => {
    if ((e.kind ?? "msg") !== "msg") return entryFrame(framePrefixFor(e, owner), e.seq);
    const shown = currentMessage(e, stored.get(e.msgId));
    return entryFrame(entryFramePrefix(shown, blockedFor(e, blocked)), e.seq);
  });
}
