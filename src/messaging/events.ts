/**
 * Event entries (PROTOCOL.md C): an edit, a recall, a deletion for the owner, or a stored receipt is an
 * inbox entry like a message — appended to each inbox concerned, then delivered to the owners'
 * connections. Its push names the conversation from each owner's side, so the frame is built per owner.
 *
 * @example
 * ```ts
 * await appendEvent(store, bus, 101, ["bob", "alice"], fields, conn.id);
 * ```
 * @module
 */
import { type EntryFields, entryFrame, eventFramePrefix } from "../protocol/pushes.ts";
import type { Bus } from "../session/bus.ts";
import type { Store } from "../store/store.ts";

/** Append `fields` to the inboxes of `users` and deliver it; the origin connection only passes its copy. */
export async function appendEvent(
  store: Store,
  bus: Bus,
  appId: number,
  users: string[],
  fields: EntryFields,
  originConnId?: string,
): Promise<void> {
  if (users.length === 0) return;
  const seqs = await store.appendMany(appId, users, fields);
  await Promise.all(users.map((user, i) => {
    const text = entryFrame(eventFramePrefix(fields, user), seqs[i]);
    return bus.deliver(appId, user, { ...fields, seq: seqs[i] }, text, originConnId);
  }));
}
