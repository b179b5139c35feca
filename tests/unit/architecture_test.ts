/**
 * The architecture's rules, checked on the source (docs/ARCHITECTURE.md):
 * - no import cycle in `src/`, counting type-only imports;
 * - no module-level mutable state in the server's modules (`let`/`var` at top level, or an empty
 *   top-level Map/Set/array/object that something fills later; constant lookup tables are fine); the browser page scripts in `src/web/` keep page
 *   state in their own module by design and are not server modules;
 * - no file over ~300 lines without a stated reason (`@size` in its module doc);
 * - no `!` assertion on a connection's context (`identity!`, `conn!`): commands that need a login get the
 *   identity from the router, other code checks it.
 * @module
 */
import assert from "node:assert/strict";

const SRC = new URL("../../src/", import.meta.url);
const MAX_LINES = 320;

async function sourceFiles(dir: URL, out: string[] = []): Promise<string[]> {
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) await sourceFiles(url, out);
    else if (/\.(ts|js)$/.test(e.name)) out.push(url.pathname);
  }
  return out.sort();
}

/** Relative imports of a module (static, dynamic, `import type` and `export ... from`). */
function importsOf(path: string, text: string): string[] {
  const out: string[] = [];
  const re =
    /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;
  for (const m of text.matchAll(re)) {
    const spec = m[1] ?? m[2];
    if (/\.(ts|js)$/.test(spec)) out.push(new URL(spec, "file://" + path).pathname);
  }
  return out;
}

Deno.test("architecture: no import cycle in src/, type-only imports included", async () => {
  const files = await sourceFiles(SRC);
  const graph = new Map<string, string[]>();
  for (const f of files) graph.set(f, importsOf(f, await Deno.readTextFile(f)));
  assert.ok(graph.size > 50, "the walk found the modules");
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (f: string) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...stack.slice(stack.indexOf(f)), f].map((p) => p.slice(SRC.pathname.length)).join(" → "));
      return;
    }
    state.set(f, "open");
    stack.push(f);
    for (const dep of graph.get(f) ?? []) if (graph.has(dep)) visit(dep);
    stack.pop();
    state.set(f, "done");
  };
  for (const f of files) visit(f);
  assert.deepEqual(cycles, []);
});

Deno.test("architecture: no module-level mutable state in the server's modules", async () => {
  const offenders: string[] = [];
  for (const f of await sourceFiles(SRC)) {
    if (f.includes("/src/web/")) continue; // browser page scripts (see the module doc)
    const lines = (await Deno.readTextFile(f)).split("\n");
    lines.forEach((line, i) => {
      const where = `${f.slice(SRC.pathname.length)}:${i + 1}: ${line.trim()}`;
      if (/^(export\s+)?(let|var)\s/.test(line)) offenders.push(where);
      if (
        /^(export\s+)?const\s+\w+(\s*:\s*[^=]+)?\s*=\s*(new\s+(Map|Set|WeakMap|WeakSet|Array)\s*(<[^>]*>)?\s*\(\s*\)|\[\s*\]|\{\s*\})/
          .test(line)
      ) {
        offenders.push(where);
      }
    });
  }
  assert.deepEqual(offenders, []);
});

Deno.test("architecture: files over ~300 lines state why (@size in the module doc)", async () => {
  const long: string[] = [];
  for (const f of await sourceFiles(SRC)) {
    const text = await Deno.readTextFile(f);
    const n = text.split("\n").length;
    if (n > MAX_LINES && !/@size /.test(text.slice(0, 4000))) {
      long.push(`${f.slice(SRC.pathname.length)} (${n} lines)`);
    }
  }
  assert.deepEqual(long, []);
});

Deno.test("architecture: no ! assertion on a connection's context", async () => {
  const offenders: string[] = [];
  for (const f of await sourceFiles(SRC)) {
    const lines = (await Deno.readTextFile(f)).split("\n");
    lines.forEach((line, i) => {
      if (/\b(identity|conn|connection|me|ctx|context)!(\.|\[|;|,|\))/.test(line)) {
        offenders.push(`${f.slice(SRC.pathname.length)}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(offenders, []);
});
