/**
 * The shape every batched Redis call shares: a batch of items is split by slot on a Redis Cluster (one
 * group on one Redis), each group runs as one script call, and a group that fails fails its own items only
 * ({@linkcode ItemFailure}: a shard that is down does not fail the other shards' items).
 *
 * @example
 * ```ts
 * const results = await perSlot(link.cluster, items, (i) => i.key, (group) => runScript(group));
 * ```
 * @module
 */
import { ItemFailure } from "./batcher.ts";
import { bySlot } from "./slots.ts";

/** Run `call` once per slot group of `items` (`keyOf` names an item's slot); results in item order. */
export async function perSlot<I, O>(
  cluster: boolean,
  items: I[],
  keyOf: (item: I) => string,
  call: (group: I[]) => Promise<O[]>,
): Promise<Array<O | ItemFailure>> {
  if (!cluster) return await call(items);
  const results = new Map<I, O | ItemFailure>();
  await Promise.all([...bySlot(items, keyOf).values()].map(async (group) => {
    try {
      const out = await call(group);
      group.forEach((item, i) => results.set(item, out[i]));
    } catch (error) {
      const failure = new ItemFailure(error);
      for (const item of group) results.set(item, failure);
    }
  }));
  return items.map((item) => results.get(item)!);
}
