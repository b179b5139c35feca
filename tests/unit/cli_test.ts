/**
 * The command line of `src/main.ts`: flags, the config file it resolves to, usage mistakes, the usage
 * text and the exit-code table.
 * @module
 */
import assert from "node:assert/strict";
import { EXIT, parseArgs, usage, UsageError, VERSION } from "../../src/config/cli.ts";

/** The UsageError message of `args`. */
function mistake(args: string[]): string {
  const error = (() => {
    try {
      parseArgs(args, {});
    } catch (e) {
      return e;
    }
    assert.fail(`expected a UsageError for ${JSON.stringify(args)}`);
  })();
  assert.ok(error instanceof UsageError, String(error));
  return error.message;
}

Deno.test("cli: --config, --config=, IM_CONFIG, default", () => {
  const run = (path: string, required: boolean) => ({ kind: "run", config: { path, required } });
  assert.deepEqual(parseArgs(["--config", "x.yaml"], {}), run("x.yaml", true));
  assert.deepEqual(parseArgs(["--config=y.yaml"], { IM_CONFIG: "z.yaml" }), run("y.yaml", true));
  assert.deepEqual(parseArgs([], { IM_CONFIG: "z.yaml" }), run("z.yaml", true));
  assert.deepEqual(parseArgs([], {}), run("config/app.yaml", false));
  assert.deepEqual(parseArgs([], { IM_CONFIG: "" }), run("config/app.yaml", false));
  // The last --config wins, as in most tools; `--` (npm habit: `deno task start -- --config x`) is skipped.
  assert.deepEqual(parseArgs(["--config", "a", "--config=b"], {}), run("b", true));
  assert.deepEqual(parseArgs(["--", "--config", "x.yaml"], {}), run("x.yaml", true));
});

Deno.test("cli: --help/-h and --version, which win over mistakes next to them", () => {
  assert.deepEqual(parseArgs(["--help"], {}), { kind: "help" });
  assert.deepEqual(parseArgs(["-h"], {}), { kind: "help" });
  assert.deepEqual(parseArgs(["--confg", "x", "-h"], {}), { kind: "help" });
  assert.deepEqual(parseArgs(["--version"], {}), { kind: "version" });
  assert.deepEqual(parseArgs(["--version", "--help"], {}), { kind: "help" });
});

Deno.test("cli: unknown options, stray arguments and a --config without a path are usage errors", () => {
  assert.equal(mistake(["--confg", "x"]), 'unknown option "--confg" (see --help)');
  assert.equal(mistake(["-c", "x"]), 'unknown option "-c" (see --help)');
  assert.equal(mistake(["--config=x", "--port=1"]), 'unknown option "--port=1" (see --help)');
  assert.equal(mistake(["app.yaml"]), 'unexpected argument "app.yaml" (see --help)');
  assert.equal(mistake(["--config", "a.yaml", "b.yaml"]), 'unexpected argument "b.yaml" (see --help)');
  for (const args of [["--config"], ["--config="], ["--config", "-x"]]) {
    assert.equal(mistake(args), "option --config needs a path (see --help)", args.join(" "));
  }
});

Deno.test("cli: the usage text names every flag, the config lookup, the env rule and the exit codes", () => {
  const text = usage();
  for (
    const part of [
      "--config <path>",
      "-h, --help",
      "--version",
      "IM_CONFIG",
      "config/app.yaml",
      "IM_<SECTION>_<KEY>",
      "IM_APP_HTTPPORT",
      "README.md",
    ]
  ) {
    assert.ok(text.includes(part), `usage mentions ${part}`);
  }
  for (const [name, code] of Object.entries(EXIT)) {
    assert.match(text, new RegExp(`^  ${code}  \\S`, "m"), `exit code ${name}=${code} in the usage`);
  }
  assert.ok(text.split("\n").every((line) => line.length <= 100), "fits a terminal");
});

Deno.test("cli: exit codes are distinct; VERSION is deno.json's version", async () => {
  const codes = Object.values(EXIT);
  assert.equal(new Set(codes).size, codes.length);
  assert.deepEqual(EXIT, { ok: 0, failure: 1, config: 2, redis: 3, listen: 4, store: 5 });
  const deno = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(VERSION, deno.version);
});
