/**
 * Presence in Redis, for every node of a cluster ({@linkcode Presence}). Each connection is an entry with
 * an expiry; the owning node refreshes all of its entries in one batch every `presence.ttl / 3`
 * (cluster/node.ts is the single refresher), so a crashed node's users go offline by themselves within
 * ≤ 4/3 × ttl — the node registry expires and a live node reaps it.
 *
 * @example
 * ```ts
 * const presence = new RedisPresence({ link, keys, clock, nodeId, onlineWindowMs: 180_000, ttlMs: 30_000 });
 * await presence.onlineUsers(101);
 * ```
 * @module
 */
import { StorageError } from "../protocol/errors.ts";
import type { Presence, PresenceEntry } from "../session/presence.ts";
import { Batcher, ItemFailure } from "../store/redis/batcher.ts";
import type { RedisKeys } from "../store/redis/keys.ts";
import type { RedisLink } from "../store/redis/link.ts";
import { type Script, SCRIPTS } from "../store/redis/scripts.ts";
import { forgetSharded, writeSharded } from "./presence_sharded.ts";
import type { Clock } from "../util/clock.ts";

/** Options of {@linkcode RedisPresence}. */
export interface RedisPresenceOptions {
  link: RedisLink;
  keys: RedisKeys;
  clock: Clock;
  /** This node: {@linkcode RedisPresence.remove} forgets its connections. */
  nodeId: string;
  /** A connection counts as online with a heartbeat within this window (ms). */
  onlineWindowMs: number;
  /** Entries expire this long after their node's last refresh (ms). */
  ttlMs: number;
  /** How long a connected user's inbox counter is kept alive by the refresh (ms). */
  keepInboxMs: number;
}

/** Connections refreshed per script call. */
const BATCH = 500;

/** Cluster-wide presence. */
export class RedisPresence implements Presence {
  readonly #o: RedisPresenceOptions;
  /** Logins issued while a write is in flight leave together (a login storm: one call per batch). */
  readonly #adds = new Batcher<PresenceEntry, number>((entries) => this.#write(entries), BATCH);

  constructor(options: RedisPresenceOptions) {
    this.#o = options;
  }

  async #run<T>(op: string, script: Script, keys: string[], args: (string | number)[]): Promise<T> {
    try {
      return await script.run<T>(this.#o.link, keys, args);
    } catch (error) {
      throw new StorageError(op, error);
    }
  }

  async #guard<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new StorageError(op, error);
    }
  }

  #keysOf(e: PresenceEntry): string[] {
    const k = this.#o.keys;
    return [
      k.presence(e.appId, e.userId),
      k.appUsers(e.appId),
      k.appExpiry(e.appId),
      k.userApps(e.userId),
      k.nodeConnections(e.nodeId),
      k.marks(e.appId, e.userId),
    ];
  }

  async add(entry: PresenceEntry): Promise<boolean> {
    return (await this.#adds.push(entry)) === 1;
  }

  /** Write (or rewrite) many entries, {@linkcode BATCH} per script call; per entry 1 when it was the user's first. */
  async refresh(entries: readonly PresenceEntry[]): Promise<number[]> {
    const results = await this.#write(entries);
    // on a cluster the other slots' entries were written; the caller (the periodic refresh) logs it
    const failed = results.find((r) => r instanceof ItemFailure);
    if (failed) throw (failed as ItemFailure).error;
    return results as number[];
  }

  /** Per entry: 1 when it was the user's first, 0, or (a cluster slot that failed) an ItemFailure. */
  async #write(entries: readonly PresenceEntry[]): Promise<Array<number | ItemFailure>> {
    const { link, keys } = this.#o;
    if (link.cluster) {
      const calls: Promise<Array<number | ItemFailure>>[] = [];
      for (let i = 0; i < entries.length; i += BATCH) {
        const batch = entries.slice(i, i + BATCH);
        calls.push(this.#guard("refreshPresence", () => writeSharded(link, keys, batch, this.#o)));
      }
      return (await Promise.all(calls)).flat().map((r) =>
        r instanceof ItemFailure ? new ItemFailure(new StorageError("refreshPresence", r.error)) : r
      );
    }
    const calls: Promise<number[]>[] = [];
    for (let i = 0; i < entries.length; i += BATCH) {
      const slotKeys: string[] = [];
      const args: (string | number)[] = [this.#o.ttlMs, this.#o.keepInboxMs];
      for (const e of entries.slice(i, i + BATCH)) {
        slotKeys.push(...this.#keysOf(e));
        args.push(e.appId, e.userId, e.nodeId, e.connId, e.heartbeatAt, JSON.stringify(e));
      }
      calls.push(this.#run("refreshPresence", SCRIPTS.upsertPresence, slotKeys, args));
    }
    return (await Promise.all(calls)).flat().map(Number);
  }

  remove(appId: number, userId: string, connId: string): Promise<boolean> {
    return this.removeOf(this.#o.nodeId, appId, userId, connId);
  }

  /** Forget a connection of `nodeId`; true when the user has no unexpired connection left. */
  async removeOf(nodeId: string, appId: number, userId: string, connId: string): Promise<boolean> {
    const k = this.#o.keys;
    if (this.#o.link.cluster) {
      return await this.#guard(
        "removePresence",
        () => forgetSharded(this.#o.link, k, { appId, userId, nodeId, connId }),
      );
    }
    const keys = [
      k.presence(appId, userId),
      k.appUsers(appId),
      k.appExpiry(appId),
      k.userApps(userId),
      k.nodeConnections(nodeId),
    ];
    return Number(
      await this.#run("removePresence", SCRIPTS.removePresence, keys, [appId, userId, nodeId, connId]),
    ) === 1;
  }

  async connections(appId: number, userId: string): Promise<PresenceEntry[]> {
    const values = await this.#run<string[]>("presence", SCRIPTS.presence, [
      this.#o.keys.presence(appId, userId),
    ], []);
    const since = this.#o.clock.now() - this.#o.onlineWindowMs;
    return values.map((v) => JSON.parse(v) as PresenceEntry).filter((p) => p.heartbeatAt >= since);
  }

  onlineUsers(appId: number): Promise<string[]> {
    const k = this.#o.keys;
    const min = this.#o.clock.now() - this.#o.onlineWindowMs;
    return this.#run("onlineUsers", SCRIPTS.onlineUsers, [k.appUsers(appId), k.appExpiry(appId)], [min]);
  }

  async userApps(userId: string): Promise<number[]> {
    const apps =
      (await this.#run<string[]>("userApps", SCRIPTS.userApps, [this.#o.keys.userApps(userId)], []))
        .map(Number);
    // The index knows where presence has not expired; the heartbeat window is checked per app.
    const fresh = await Promise.all(
      apps.map(async (app) => (await this.connections(app, userId)).length > 0),
    );
    return apps.filter((_, i) => fresh[i]).sort((a, b) => a - b);
  }

  /** Connections Redis believes `nodeId` holds, as [appId, connId, userId]. */
  async nodeConnections(nodeId: string): Promise<Array<[number, string, string]>> {
    const key = this.#o.keys.nodeConnections(nodeId);
    const flat = await this.#guard(
      "nodeConnections",
      () => this.#o.link.send<string[]>(key, ["HGETALL", key]),
    );
    const out: Array<[number, string, string]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i], bar = field.indexOf("|");
      out.push([Number(field.slice(0, bar)), field.slice(bar + 1), flat[i + 1]]);
    }
    return out;
  }

  /** Remove every entry of a node (crashed or restarted); resolves to the users now offline. */
  async reap(nodeId: string): Promise<Array<{ appId: number; userId: string }>> {
    const gone: Array<{ appId: number; userId: string }> = [];
    for (const [appId, connId, userId] of await this.nodeConnections(nodeId)) {
      if (await this.removeOf(nodeId, appId, userId, connId)) gone.push({ appId, userId });
    }
    const { link, keys } = this.#o;
    await this.#guard("reapNode", async () => {
      await link.send(keys.nodeConnections(nodeId), ["DEL", keys.nodeConnections(nodeId)]);
      await link.send(keys.nodes, ["ZREM", keys.nodes, nodeId]);
    });
    return gone;
  }
}
