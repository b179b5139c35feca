/**
 * Presence writes on a Redis Cluster. A connection's presence touches keys of four owners — the user
 * (`{app:user}`: connections hash, inbox counter), the app (`{app}`: online zsets), the user across apps
 * (`{u:user}`) and the node (`{n:node}`: what it holds) — so on a cluster one script cannot do it all.
 * The user's half runs as a script per slot (it decides "first connection" atomically and returns the
 * expiry it wrote); the indexes follow as plain commands, one per app, user and node of the batch, all
 * sent at once (one pipeline per Redis node). Not atomic across the four: a logout racing a login of
 * the same user on another node can leave the app index saying "offline" for a user who is online — until
 * the owning node's next refresh (every presence.ttl / 3) writes the index again. Routing never reads
 * the indexes (only the user's connections hash), so deliveries are not affected.
 *
 * @example
 * ```ts
 * const firsts = await writeSharded(link, keys, entries, { ttlMs: 30_000, keepInboxMs: 86_400_000 });
 * const gone = await forgetSharded(link, keys, { appId: 101, userId: "bob", nodeId: "n1", connId: "c1" });
 * ```
 * @module
 */
import type { PresenceEntry } from "../session/presence.ts";
import type { RedisKeys } from "../store/redis/keys.ts";
import type { RedisLink } from "../store/redis/link.ts";
import { ItemFailure } from "../store/redis/batcher.ts";
import { SCRIPTS } from "../store/redis/scripts.ts";
import { bySlot } from "../store/redis/slots.ts";

/** Lifetimes of presence entries and of connected users' inbox counters (ms). */
export interface PresenceTimes {
  ttlMs: number;
  keepInboxMs: number;
}

/** Write (or rewrite) entries; per entry 1 when it was the user's first unexpired connection. */
export async function writeSharded(
  link: RedisLink,
  keys: RedisKeys,
  entries: readonly PresenceEntry[],
  times: PresenceTimes,
): Promise<Array<number | ItemFailure>> {
  const firsts = new Map<PresenceEntry, number | ItemFailure>();
  const expiries = new Map<PresenceEntry, number>();
  // each slot's script succeeds or fails apart; the indexes are written for the entries that were
  await Promise.all(
    [...bySlot(entries, (e) => keys.presence(e.appId, e.userId))].map(async ([, group]) => {
      const slotKeys: string[] = [];
      const args: (string | number)[] = [times.ttlMs, times.keepInboxMs];
      for (const e of group) {
        slotKeys.push(keys.presence(e.appId, e.userId), keys.marks(e.appId, e.userId));
        args.push(`${e.nodeId}|${e.connId}`, JSON.stringify(e));
      }
      try {
        const out = await SCRIPTS.presenceWrite.run<number[]>(link, slotKeys, args);
        group.forEach((e, i) => {
          firsts.set(e, Number(out[2 * i]));
          expiries.set(e, Number(out[2 * i + 1]));
        });
      } catch (error) {
        const failure = new ItemFailure(error);
        for (const e of group) firsts.set(e, failure);
      }
    }),
  );
  const written = entries.filter((e) => expiries.has(e));
  const commands: Array<[string, string[]]> = [];
  const byApp = groupBy(written, (e) => String(e.appId));
  for (const [app, group] of byApp) {
    const pu = keys.appUsers(Number(app)), pe = keys.appExpiry(Number(app));
    commands.push([pu, ["ZADD", pu, "GT", ...group.flatMap((e) => [String(e.heartbeatAt), e.userId])]]);
    commands.push([pe, ["ZADD", pe, "GT", ...group.flatMap((e) => [String(expiries.get(e)), e.userId])]]);
  }
  for (const [user, group] of groupBy(written, (e) => e.userId)) {
    const ua = keys.userApps(user);
    commands.push([ua, [
      "ZADD",
      ua,
      "GT",
      ...group.flatMap((e) => [String(expiries.get(e)), String(e.appId)]),
    ]]);
    commands.push([ua, ["PEXPIRE", ua, String(times.ttlMs * 2)]]);
  }
  for (const [node, group] of groupBy(written, (e) => e.nodeId)) {
    const nc = keys.nodeConnections(node);
    commands.push([nc, ["HSET", nc, ...group.flatMap((e) => [`${e.appId}|${e.connId}`, e.userId])]]);
  }
  await Promise.all(commands.map(([key, args]) => link.send(key, args)));
  return entries.map((e) => firsts.get(e) ?? 0);
}

/** The connection to forget. */
export interface ForgetTarget {
  appId: number;
  userId: string;
  nodeId: string;
  connId: string;
}

/** Forget one connection; true when the user has no unexpired connection left in the app. */
export async function forgetSharded(link: RedisLink, keys: RedisKeys, t: ForgetTarget): Promise<boolean> {
  const { appId, userId } = t;
  const nc = keys.nodeConnections(t.nodeId);
  const [reply] = await Promise.all([
    SCRIPTS.presenceForget.run<number[]>(link, [keys.presence(appId, userId)], [`${t.nodeId}|${t.connId}`]),
    link.send(nc, ["HDEL", nc, `${appId}|${t.connId}`]),
  ]);
  const [gone, heartbeat, expiry] = reply.map(Number);
  const pu = keys.appUsers(appId), pe = keys.appExpiry(appId), ua = keys.userApps(userId);
  if (gone === 1) {
    await Promise.all([
      link.send(pu, ["ZREM", pu, userId]),
      link.send(pe, ["ZREM", pe, userId]),
      link.send(ua, ["ZREM", ua, String(appId)]),
    ]);
    return true;
  }
  await Promise.all([
    link.send(pu, ["ZADD", pu, "XX", String(heartbeat), userId]),
    link.send(pe, ["ZADD", pe, "XX", String(expiry), userId]),
    link.send(ua, ["ZADD", ua, "XX", String(expiry), String(appId)]),
  ]);
  return false;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
