/**
 * Inbox replay: brings one connection from its cursor up to the inbox head, then releases the
 * live entries that queued meanwhile — so replayed and live messages are never reordered or
 * repeated. Used by `login {lastSeq}`, `sync {since}` and by gap repair on live delivery.
 *
 * @example
 * ```ts
 * client.cursor = lastSeq;
 * await replayInbox(ctx, client);
 * ```
 * @module
 */
import type { Client } from "./client.ts";
import type { ServerContext } from "./context.ts";
import { Code, encodeReply, entryFrame, entryFramePrefix } from "./protocol.ts";

/** Outcome of one replay. */
export interface ReplayResult {
  /** Entries sent from the store. */
  replayed: number;
  /** Seqs that were trimmed before the client could get them (0 = no gap). */
  lost: number;
  /** First seq still in the inbox when a gap was found. */
  firstSeq: number;
}

/** The replay running on a connection, and the login (identity object) it serves. */
const running = new WeakMap<Client, { identity: Client["identity"]; run: Promise<ReplayResult> }>();

/**
 * Replay the inbox of `client` from `client.cursor`. While it runs, live deliveries queue in
 * `client.pending`. Concurrent calls for the same client and login share one run; a run left
 * over from an earlier login of the connection (logout, then login again) stops by itself.
 */
export function replayInbox(ctx: ServerContext, client: Client): Promise<ReplayResult> {
  const current = running.get(client);
  if (current && current.identity === client.identity) return current.run;
  client.replaying = true;
  const entry = { identity: client.identity, run: Promise.resolve({ replayed: 0, lost: 0, firstSeq: 0 }) };
  running.set(client, entry);
  // The loop unregisters itself synchronously as it ends: a gap found by a live delivery
  // right after must start a new run, not join the one that is already over.
  entry.run = replayLoop(ctx, client, () => {
    if (running.get(client) === entry) running.delete(client);
  });
  return entry.run;
}

/** Start a replay without awaiting it (gap repair); errors close nothing but are logged. */
export function replayInBackground(ctx: ServerContext, client: Client): void {
  replayInbox(ctx, client).catch((error) => {
    ctx.log.warning("replay failed for {connId}: {error}", { connId: client.id, error: String(error) });
    client.replaying = false;
  });
}

async function replayLoop(ctx: ServerContext, client: Client, done: () => void): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: 0, lost: 0, firstSeq: 0 };
  const pageSize = ctx.config.inbox.syncPageSize;
  const maxAgeMs = ctx.config.inbox.maxAge * 1000;
  const cap = ctx.config.im.sendBufferBytes / 2;
  // The login this replay serves: a logout (and maybe a new login) on the connection while a
  // store read is pending must not get this user's entries.
  const identity = client.identity;
  const current = () => client.identity === identity && client.open;
  let stalled = 0;
  try {
    while (identity && current()) {
      const { appId, userId } = identity;
      client.gapSeen = false;
      const page = await ctx.store.range(appId, userId, client.cursor, pageSize, maxAgeMs);
      if (!current()) break;
      if (page.length > 0 && page[0].seq > client.cursor + 1) {
        const lost = page[0].seq - client.cursor - 1;
        result.lost += lost;
        result.firstSeq ||= page[0].seq;
        client.send(
          encodeReply("", "sync", Code.InboxGap, { since: client.cursor, firstSeq: page[0].seq, lost }),
        );
      }
      for (const entry of page) {
        if (entry.seq <= client.cursor) continue;
        client.advance(entry, entryFrame(entryFramePrefix(entry), entry.seq));
        result.replayed++;
      }
      // Pace large replays instead of tripping the slow-consumer cap.
      while (current() && client.buffered > cap) await new Promise((r) => setTimeout(r, 5));
      if (!current()) break;
      if (page.length === pageSize) {
        stalled = 0;
        continue;
      }
      if (flushPending(client)) return result;
      // A live entry arrived past a hole that the store cannot fill (it lost what it had already
      // published, e.g. Redis restarted without its last writes): retry with a growing pause, then
      // report the hole as a gap instead of polling the store forever.
      if (page.length > 0) stalled = 0;
      else if (++stalled > MAX_STALLED_READS) skipHole(client, result);
      else await new Promise((r) => setTimeout(r, 5 * 2 ** stalled));
    }
    return result;
  } finally {
    done();
    // A newer login runs its own replay and owns the queue; only a logged-out or closed
    // connection is reset here.
    if (!client.identity || !client.open) {
      client.replaying = false;
      client.pending = [];
    }
  }
}

/** Empty store reads in a row, with a hole before the queued live entries, before the hole is a gap. */
const MAX_STALLED_READS = 6;

/** Give up on entries the store no longer has: tell the client (1016) and move past them. */
function skipHole(client: Client, result: ReplayResult): void {
  const next = client.pending.reduce((min, p) => Math.min(min, p.entry.seq), Infinity);
  client.gapSeen = false;
  if (!Number.isFinite(next) || next <= client.cursor + 1) return;
  const lost = next - client.cursor - 1;
  result.lost += lost;
  result.firstSeq ||= next;
  client.send(encodeReply("", "sync", Code.InboxGap, { since: client.cursor, firstSeq: next, lost }));
  client.cursor = next - 1;
}

/**
 * Send queued live entries that follow the cursor without a hole. Returns true when the queue
 * drained cleanly (replay is over); false when a hole remains and the store must be read again.
 */
function flushPending(client: Client): boolean {
  const queued = client.pending.sort((a, b) => a.entry.seq - b.entry.seq);
  let i = 0;
  for (; i < queued.length; i++) {
    const { entry, text } = queued[i];
    if (entry.seq <= client.cursor) continue;
    if (entry.seq !== client.cursor + 1) break;
    client.advance(entry, text);
  }
  client.pending = queued.slice(i);
  if (client.pending.length > 0 || client.gapSeen) return false;
  client.replaying = false;
  return true;
}
