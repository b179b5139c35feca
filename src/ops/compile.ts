/**
 * `deno task compile`: runs `deno compile` with the arguments the task passes (listed in deno.json)
 * and, when it fails because the `denort` base binary cannot be had — Deno downloads it from
 * dl.deno.land unless `DENORT_BIN` names one — says so in one paragraph instead of deno's DNS error
 * and backtrace. Any other failure shows deno's own output. Its own entry point: the server never
 * imports it.
 *
 * Permissions: `--allow-run=deno` (the child `deno compile` has its own, unrestricted, as before)
 * and `--allow-env=DENORT_BIN` (to tell "unset" from "wrong path"). It reads and writes nothing.
 *
 * @example
 * ```sh
 * deno run --allow-run=deno --allow-env=DENORT_BIN src/ops/compile.ts --output dist/imserver src/main.ts
 * ```
 * @module
 */

/** `text` without ANSI colour codes: deno colours its output even into a pipe; the patterns here are about words. */
function uncoloured(text: string): string {
  // A fresh RegExp per call: a shared global one would carry lastIndex between calls.
  return text.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "");
}

/** `text` as lines of at most `width` characters (a longer word, such as a URL, gets a line of its own). */
function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}

/** What the failing `deno compile` wanted: the Deno version and target of the denort it needs. */
interface Wanted {
  version: string;
  target: string;
}

/**
 * The paragraph to print instead of deno's output when `deno compile` failed for want of a denort
 * base binary, else undefined (then deno's output is the better explanation). `output` is what
 * deno printed (colours stripped or not); `denortBin` is `DENORT_BIN` (deno takes an empty value as
 * a path too).
 *
 * @example
 * ```ts
 * const text = explainCompileFailure("error sending request for url (https://dl.deno.land/…)", undefined);
 * if (text) console.error(text);
 * ```
 */
export function explainCompileFailure(output: string, denortBin: string | undefined): string | undefined {
  const text = uncoloured(output);
  // The download URL names the exact version and target (deno may be another version than the one
  // running this script, and --target may be given).
  const url = text.match(/dl\.deno\.land\/release\/v([^/\s]+)\/denort-([^\s/)]+)\.zip/);
  const wanted: Wanted = { version: url?.[1] ?? Deno.version.deno, target: url?.[2] ?? Deno.build.target };
  const zip = `denort-${wanted.target}.zip`;
  const release = `https://github.com/denoland/deno/releases/tag/v${wanted.version}`;
  if (denortBin !== undefined) {
    if (!text.includes(`Could not find denort at`)) return undefined;
    const given = denortBin ? `DENORT_BIN=${denortBin} does not exist` : "DENORT_BIN is set but empty";
    return wrap(
      `imserver compile: ${given}. It must name the denort base binary of ` +
        `Deno ${wanted.version}, unzipped from ${zip} of that release (${release}). Fix the path, or ` +
        `unset DENORT_BIN where https://dl.deno.land is reachable (deno then downloads it).`,
    );
  }
  const download = url !== null ||
    (/base binary/i.test(text) && /error sending request|dns error|failed to lookup address/i.test(text));
  if (!download) return undefined;
  // The innermost "Caused by" line is the reason (DNS, connection refused, proxy, TLS …); the
  // backtrace after it has numbered lines too.
  const causedBy = text.split(/^Caused by:$/m)[1]?.split(/^Stack backtrace:$/m)[0] ?? "";
  const reason = [...causedBy.matchAll(/^\s*\d+: (.+)$/gm)].at(-1)?.[1].trim() ?? "no connection";
  return wrap(
    `imserver compile: the denort base binary for Deno ${wanted.version} (${wanted.target}) could not be ` +
      `fetched from dl.deno.land (${reason}); deno compile builds the executable on top of it. Either ` +
      `run where https://dl.deno.land is reachable, or download ${zip} from the Deno ${wanted.version} ` +
      `release (${release}) on another machine, unzip it and run:`,
  ) + "\n  DENORT_BIN=/path/to/denort deno task compile";
}

/**
 * Run `deno compile <args>`; progress lines pass through as they come, deno's error (from its first
 * `error:` line) is held back until it is known whether {@linkcode explainCompileFailure} has a
 * better text. Returns the exit code.
 */
async function compile(args: readonly string[]): Promise<number> {
  const denortBin = Deno.env.get("DENORT_BIN");
  const encoder = new TextEncoder();
  const write = (text: string) => Deno.stderr.write(encoder.encode(text));
  await write(`deno compile ${args.join(" ")}\n`);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("deno", { args: ["compile", ...args], stdout: "inherit", stderr: "piped" })
      .spawn();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    await write("imserver compile: `deno` is not on PATH; run the task with the deno that is.\n");
    return 1;
  }
  let pending = "";
  let held = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (!held && !uncoloured(line).startsWith("error")) await write(`${line}\n`);
      else held += `${line}\n`;
    }
  }
  held += pending;
  const { code } = await child.status;
  if (code === 0) {
    await write(held);
    return 0;
  }
  const explained = explainCompileFailure(held, denortBin);
  await write(explained ? `${explained}\n` : held);
  return code;
}

if (import.meta.main) Deno.exit(await compile(Deno.args));
