/**
 * Which Redis commands a bench phase cost, per message: `INFO commandstats` of every redis-server of a
 * backend read before and after the phase (commands a script runs are counted one by one, and the script
 * call itself under `evalsha`), through `redis-cli`.
 *
 * @example
 * ```ts
 * const before = await commandStats([6379]);
 * // … run the phase …
 * const perMessage = commandsPerMessage(before, await commandStats([6379]), received);
 * // "evalsha 2.02 (31.0 µs), hincrby 2.00, xadd 2.00, publish 1.01 (1.2 µs), …"
 * ```
 * @module
 */

/** Calls and server time (µs) per command name, summed over the servers. */
export type CommandStats = Map<string, { calls: number; usec: number }>;

/** `INFO commandstats` of the redis-servers on `ports` (127.0.0.1), summed. */
export async function commandStats(ports: number[]): Promise<CommandStats> {
  const stats: CommandStats = new Map();
  for (const port of ports) {
    const out = await new Deno.Command("redis-cli", {
      args: ["-h", "127.0.0.1", "-p", String(port), "INFO", "commandstats"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    for (const m of text.matchAll(/cmdstat_([\w|]+):calls=(\d+),usec=(\d+)/g)) {
      const s = stats.get(m[1]) ?? { calls: 0, usec: 0 };
      s.calls += Number(m[2]);
      s.usec += Number(m[3]);
      stats.set(m[1], s);
    }
  }
  return stats;
}

/**
 * The commands run between `before` and `after` per message, most frequent first, as `name calls (µs)`
 * per message; the time of the commands a script runs is part of its `evalsha` time too.
 */
export function commandsPerMessage(before: CommandStats, after: CommandStats, messages: number): string {
  if (messages <= 0) return "";
  const rows: { name: string; calls: number; usec: number }[] = [];
  for (const [name, s] of after) {
    if (name === "info" || name.startsWith("config")) continue;
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    const calls = (s.calls - b.calls) / messages;
    if (calls >= 0.005) rows.push({ name, calls, usec: (s.usec - b.usec) / messages });
  }
  rows.sort((x, y) => y.calls - x.calls);
  return rows.map((r) => `${r.name} ${r.calls.toFixed(2)} (${r.usec.toFixed(1)} µs)`).join(", ");
}
