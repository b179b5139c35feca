/**
 * The command line of the server (`deno task start [options]`, `./imserver [options]`): the flags,
 * the usage text and the exit codes. Pure functions: `main.ts` does the printing and exiting.
 *
 * @example
 * ```ts
 * const command = parseArgs(Deno.args, Deno.env.toObject());
 * if (command.kind === "help") console.log(usage());
 * ```
 * @module
 */
import { CONFIG_ENV } from "./load.ts";

/**
 * The server's version, as in deno.json (a unit test keeps them equal; the compiled binary has no
 * deno.json to read).
 *
 * @example
 * ```ts
 * console.log(`imserver ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * Exit codes of the server process; the same table is in README.md and docs/DEPLOYMENT.md.
 *
 * @example
 * ```ts
 * Deno.exit(EXIT.listen); // a port from the config is taken
 * ```
 */
export const EXIT = {
  /** Stopped normally (SIGINT, or SIGTERM drained within drain.deadline), or --help/--version. */
  ok: 0,
  /** The drain took longer than drain.deadline, or an unexpected error. */
  failure: 1,
  /** Invalid configuration, environment variable or command-line option. */
  config: 2,
  /** Cluster mode and Redis unreachable at start-up. */
  redis: 3,
  /** A listener cannot be opened (port in use, not permitted, address not on this host). */
  listen: 4,
  /**
   * The store file cannot be used: in use by another process, corrupt, another application's, written
   * by a newer version, or not writable.
   */
  store: 5,
} as const;

/** What each exit code means, for the usage text. */
const EXIT_LINES: readonly [number, string][] = [
  [EXIT.ok, "stopped (SIGINT, or SIGTERM drained within drain.deadline), or --help/--version"],
  [EXIT.failure, "the drain took longer than drain.deadline, or an unexpected error"],
  [EXIT.config, "invalid configuration, IM_* environment variable or command-line option"],
  [EXIT.redis, "cluster mode: Redis unreachable at start-up"],
  [EXIT.listen, "cannot listen on a configured address and port (in use, not permitted)"],
  [EXIT.store, "the store file (store.path) is in use by another process, corrupt, foreign or unwritable"],
];

/** The config file looked up in the working directory when none is named. */
const DEFAULT_CONFIG_PATH = "config/app.yaml";

/**
 * What the command line asks for.
 *
 * @example
 * ```ts
 * const command: Command = { kind: "run", config: { path: "config/app.yaml", required: false } };
 * ```
 */
export type Command =
  | { kind: "help" }
  | { kind: "version" }
  /** Start the server; `required` is true when the user named the file (then it must exist). */
  | { kind: "run"; config: { path: string; required: boolean } };

/**
 * A mistake on the command line; `main.ts` prints `imserver: <message>` and exits with
 * {@linkcode EXIT}.config.
 *
 * @example
 * ```ts
 * throw new UsageError('unknown option "--confg" (see --help)');
 * ```
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Parse the arguments after the script name. `--help`/`-h` anywhere wins (someone who got a
 * mistake wrong is asking how to fix it), then `--version`; otherwise an unknown option or a stray
 * argument is a {@linkcode UsageError} — starting the server on the default ports despite a typo
 * such as `--confg` would hide it. The config file is `--config`, else `IM_CONFIG`, else
 * `config/app.yaml` (not required to exist).
 *
 * @example
 * ```ts
 * parseArgs(["--config", "prod.yaml"], {}); // { kind: "run", config: { path: "prod.yaml", required: true } }
 * parseArgs(["-h"], {}); // { kind: "help" }
 * ```
 */
export function parseArgs(args: readonly string[], env: Record<string, string>): Command {
  let help = false;
  let version = false;
  let mistake: string | undefined;
  let config: string | undefined;
  const note = (message: string) => mistake ??= `${message} (see --help)`;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--version") version = true;
    // `deno task start -- --help` (the npm habit) passes the `--` through; nothing follows it but options.
    else if (arg === "--") continue;
    else if (arg === "--config" || arg.startsWith("--config=")) {
      const value = arg === "--config" ? args[i + 1] : arg.slice("--config=".length);
      // `--config --version` lacks a path rather than naming a file called "--version".
      if (value === undefined || value === "" || value.startsWith("-")) {
        note("option --config needs a path");
      } else {
        config = value;
        if (arg === "--config") i++;
      }
    } else if (arg.startsWith("-")) note(`unknown option ${JSON.stringify(arg)}`);
    else note(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (help) return { kind: "help" };
  if (version) return { kind: "version" };
  if (mistake) throw new UsageError(mistake);
  if (config !== undefined) return { kind: "run", config: { path: config, required: true } };
  if (env[CONFIG_ENV]) return { kind: "run", config: { path: env[CONFIG_ENV], required: true } };
  return { kind: "run", config: { path: DEFAULT_CONFIG_PATH, required: false } };
}

/**
 * The text of `--help`.
 *
 * @example
 * ```ts
 * console.log(usage());
 * ```
 */
export function usage(): string {
  return `imserver ${VERSION} — instant-messaging server

Usage: deno task start [options]     (from source)
       imserver [options]            (the binary built by deno task compile)

Options:
  --config <path>   YAML config file, which must exist (also --config=<path>, or ${CONFIG_ENV}=<path>)
  -h, --help        print this help and exit
  --version         print the version and exit

Without --config or ${CONFIG_ENV}, ./${DEFAULT_CONFIG_PATH} in the working directory is read if it
exists, else the default shipped with the server; built-in defaults apply to keys it does not set.

Every key can be overridden by an environment variable IM_<SECTION>_<KEY> in upper case, e.g.
IM_APP_HTTPPORT=9000 for app.httpPort; lists are comma-separated (IM_IM_APPIDS=101,102). Any other
IM_* variable but ${CONFIG_ENV} is an error. Every key, its variable and its default: the
configuration reference in README.md ("Configuration").

Exit codes:
${EXIT_LINES.map(([code, meaning]) => `  ${code}  ${meaning}`).join("\n")}
`;
}
