/**
 * Summarise a V8 `.cpuprofile` (from `deno task bench --cpu-prof`): top functions by self
 * time and self time per source file.
 * Run: `deno run --allow-read tests/bench/profile_summary.ts bench-results/prof/CPU.*.cpuprofile [top]`.
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Self time (ms) per function and per file of a profile. */
export function summarise(
  profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] },
): { total: number; functions: [string, number][]; files: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const fn = new Map<string, number>(), file = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const frame = byId.get(id)!.callFrame;
    const short = frame.url.replace(/^.*\/(src|tests|node_modules|npm|ext)\//, "$1/") || "(native)";
    const name = `${frame.functionName || "(anonymous)"} ${short}:${frame.lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    file.set(short, (file.get(short) ?? 0) + us);
    total += us;
  });
  const sorted = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000] as [string, number]);
  return { total: total / 1000, functions: sorted(fn), files: sorted(file) };
}

if (import.meta.main) {
  const [path, topArg] = Deno.args;
  const top = Number(topArg ?? 25);
  const s = summarise(JSON.parse(await Deno.readTextFile(path)));
  const pct = (ms: number) => `${(ms / s.total * 100).toFixed(1)}%`;
  console.log(
    `total sampled ${(s.total / 1000).toFixed(1)} s\n\n| self % | self ms | function |\n|---|---|---|`,
  );
  for (const [k, v] of s.functions.slice(0, top)) console.log(`| ${pct(v)} | ${v.toFixed(0)} | ${k} |`);
  console.log(`\n| self % | file |\n|---|---|`);
  for (const [k, v] of s.files.slice(0, top)) console.log(`| ${pct(v)} | ${k} |`);
}
