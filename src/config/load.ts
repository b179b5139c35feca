/**
 * Configuration: built-in defaults ← YAML file ← environment variables, validated against
 * {@linkcode SCHEMA}. Any problem is one {@linkcode ConfigError} naming the key (and the line).
 *
 * Environment rule: `IM_<SECTION>_<KEY>` in upper case, e.g. `IM_APP_HTTPPORT=0`,
 * `IM_REDIS_ADDR=10.0.0.5:6379`, `IM_IM_APPIDS=101,102`. Lists are comma-separated. Any other `IM_*`
 * variable except {@linkcode CONFIG_ENV} is an error (with the likely key), never silently ignored.
 *
 * @example
 * ```ts
 * const config = await loadConfig({ path: "config/app.yaml", env: Deno.env.toObject() });
 * config.app.httpPort; // 8080
 * ```
 * @module
 */
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { type Config, type FieldSpec, SCHEMA } from "./schema.ts";

export type { Config } from "./schema.ts";

/** A configuration problem; the message names the key and, for files, the line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Where {@linkcode loadConfig} reads from. */
export interface LoadOptions {
  /** YAML file path; a missing file is an error only when `required`. */
  path?: string;
  /** True when the user named the file (`--config`/`IM_CONFIG`): then it must exist. */
  required?: boolean;
  /** Environment variables to apply as overrides. */
  env?: Record<string, string>;
  /** YAML text to use instead of reading `path` (tests, embedded defaults). */
  text?: string;
}

/** Built-in defaults, as a fresh mutable object. */
export function defaultConfig(): Config {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, fields] of Object.entries(SCHEMA)) {
    out[section] = {};
    for (const [key, spec] of Object.entries(fields as Record<string, FieldSpec>)) {
      out[section][key] = structuredClone(spec.default);
    }
  }
  return out as Config;
}

/** Load, merge and validate configuration. Throws {@linkcode ConfigError}. */
export async function loadConfig(options: LoadOptions = {}): Promise<Config> {
  const config = defaultConfig();
  let text = options.text;
  if (text === undefined && options.path) {
    try {
      text = await Deno.readTextFile(options.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound) || options.required) {
        throw new ConfigError(`cannot read config file ${options.path}: ${(err as Error).message}`);
      }
    }
  }
  if (text !== undefined) applyYaml(config, text, options.path ?? "<config>");
  if (options.env) applyEnv(config, options.env);
  checkConsistency(config);
  return config;
}

function applyYaml(config: Config, text: string, file: string): void {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const where = (offset: number | undefined) =>
    offset === undefined ? file : `${file}:${lines.linePos(offset).line}`;
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    throw new ConfigError(`${where(e.pos[0])}: invalid YAML: ${e.message.split("\n")[0]}`);
  }
  if (doc.contents === null) return;
  if (!isMap(doc.contents)) throw new ConfigError(`${file}: top level must be a mapping of sections`);
  const target = config as unknown as Record<string, Record<string, unknown>>;
  for (const sectionPair of doc.contents.items) {
    const section = String(isScalar(sectionPair.key) ? sectionPair.key.value : sectionPair.key);
    const sectionLine = where(isScalar(sectionPair.key) ? sectionPair.key.range?.[0] : undefined);
    const fields = (SCHEMA as Record<string, Record<string, FieldSpec>>)[section];
    if (!fields) throw new ConfigError(`${sectionLine}: unknown section "${section}"`);
    // `app:` with nothing under it (or only comments) parses as a null scalar: defaults apply.
    if (sectionPair.value === null || (isScalar(sectionPair.value) && sectionPair.value.value === null)) {
      continue;
    }
    if (!isMap(sectionPair.value)) throw new ConfigError(`${sectionLine}: "${section}" must be a mapping`);
    for (const pair of sectionPair.value.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const line = where(isScalar(pair.key) ? pair.key.range?.[0] : undefined);
      const spec = fields[key];
      if (!spec) throw new ConfigError(`${line}: unknown key "${section}.${key}"`);
      const value = pair.value === null ? null : (pair.value as { toJSON(): unknown }).toJSON();
      target[section][key] = coerce(spec, value, `${line}: ${section}.${key}`);
    }
  }
}

/**
 * The one `IM_*` variable that is not a setting: it names the config file (read by `main.ts`).
 *
 * @example
 * ```ts
 * const file = Deno.env.get(CONFIG_ENV); // IM_CONFIG=/etc/imserver/app.yaml
 * ```
 */
export const CONFIG_ENV = "IM_CONFIG";

function applyEnv(config: Config, env: Record<string, string>): void {
  checkEnvNames(env);
  const target = config as unknown as Record<string, Record<string, unknown>>;
  for (const [section, fields] of Object.entries(SCHEMA)) {
    for (const [key, spec] of Object.entries(fields as Record<string, FieldSpec>)) {
      const name = envName(section, key);
      const raw = env[name];
      if (raw === undefined) continue;
      // A failure quotes `raw`, what the operator typed: Number("abc") is NaN, which JSON shows as null.
      target[section][key] = coerce(
        spec,
        fromEnvString(spec, raw),
        `environment ${name}=${JSON.stringify(raw)} (${section}.${key})`,
        raw,
      );
    }
  }
}

/**
 * An `IM_*` variable that names no setting is refused: silently ignoring `IM_APP_HTTPPROT=9000`
 * would start the server on the default port. The prefix is matched in any case so that
 * `im_app_httpport` is caught too (environment names are case-sensitive). `IM_CONFIG_*` is left
 * alone: Debian/Ubuntu desktops' input-method switcher im-config exports `IM_CONFIG_PHASE` and
 * `IM_CONFIG_CHECK_ENV` into every terminal, and no section of ours is called `config`.
 */
function checkEnvNames(env: Record<string, string>): void {
  const known = Object.entries(SCHEMA).flatMap(([section, fields]) =>
    Object.keys(fields).map((key) => envName(section, key))
  );
  known.push(CONFIG_ENV);
  const valid = new Set(known);
  const unknown = Object.keys(env)
    .filter((name) => /^IM_/i.test(name) && !name.startsWith(`${CONFIG_ENV}_`) && !valid.has(name))
    .sort();
  if (unknown.length === 0) return;
  const [first, ...others] = unknown;
  const meant = closestName(first, known);
  const hint = meant
    ? `did you mean ${meant}?`
    : "settings are IM_<SECTION>_<KEY> as listed in the README's configuration reference";
  const more = others.length > 0 ? ` (also not settings: ${others.join(", ")})` : "";
  throw new ConfigError(`environment ${first} is not a setting; ${hint}${more}`);
}

/**
 * The name in `names` that `typed` most likely meant: the same ignoring case, else the nearest
 * within 2 edits (a swap of neighbours counts as one), else one with the same letters in another
 * order. Undefined when nothing is that close, so that a stray variable gets no wild guess.
 */
function closestName(typed: string, names: string[]): string | undefined {
  const upper = typed.toUpperCase();
  const letters = (s: string) => [...s.replaceAll("_", "")].sort().join("");
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of names) {
    const d = editDistance(upper, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best ?? names.find((name) => letters(name) === letters(upper));
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** The environment variable that overrides `section.key`: `IM_APP_HTTPPORT` for app.httpPort. */
export function envName(section: string, key: string): string {
  return `IM_${section}_${key}`.toUpperCase();
}

function fromEnvString(spec: FieldSpec, raw: string): unknown {
  switch (spec.type) {
    case "int":
    case "number":
      return raw.trim() === "" ? raw : Number(raw);
    case "bool":
      return raw === "true" ? true : raw === "false" ? false : raw;
    case "intList":
      return raw.trim() === "" ? [] : raw.split(",").map((s) => Number(s.trim()));
    case "stringList":
      return raw.trim() === "" ? [] : raw.split(",").map((s) => s.trim());
    default:
      return raw;
  }
}

/** Validate `value` against `spec`; an error names `where` and shows `shown` (default: the value). */
function coerce(spec: FieldSpec, value: unknown, where: string, shown: unknown = value): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(`${where}: expected ${expected}, got ${JSON.stringify(shown)}`);
  };
  switch (spec.type) {
    case "int":
    case "number": {
      if (typeof value !== "number" || !Number.isFinite(value)) {
        fail(spec.type === "int" ? "an integer" : "a number");
      }
      const n = value as number;
      if (spec.type === "int" && !Number.isInteger(n)) fail("an integer");
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        fail(`a value in [${spec.min ?? "-inf"}, ${spec.max ?? "inf"}]`);
      }
      return n;
    }
    case "string":
      if (typeof value === "number") return String(value);
      if (typeof value !== "string") fail("a string");
      return value;
    case "bool":
      if (typeof value !== "boolean") fail("true or false");
      return value;
    case "enum":
      if (typeof value !== "string" || !spec.values.includes(value)) fail(`one of ${spec.values.join(", ")}`);
      return value;
    case "intList":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "number" && Number.isInteger(v))) {
        fail("a list of integers");
      }
      return value;
    case "stringList":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) fail("a list of strings");
      return value;
  }
}

function checkConsistency(config: Config): void {
  // Deprecated key: cluster.presenceTtl still counts when presence.ttl is left at its default.
  if (
    config.cluster.presenceTtl !== SCHEMA.cluster.presenceTtl.default &&
    config.presence.ttl === SCHEMA.presence.ttl.default
  ) config.presence.ttl = config.cluster.presenceTtl;
  if (config.auth.mode === "jwt" && config.api.keys.length === 0 && !config.api.open) {
    throw new ConfigError(
      "api.keys: auth.mode jwt protects the WebSocket only; set api.keys so the HTTP API is not open to " +
        "anyone (or api.open: true to serve it without keys on purpose)",
    );
  }
  if (config.store.engine === "sqlite" && !config.cluster.enabled && config.store.path.trim() === "") {
    throw new ConfigError('store.path: must name the database file when store.engine is "sqlite"');
  }
  if (config.redis.cluster && config.redis.DB !== 0) {
    throw new ConfigError(
      "redis.DB: a Redis Cluster has database 0 only (leave redis.DB at 0 with redis.cluster)",
    );
  }
  const { heartbeat } = config;
  if (heartbeat.timeout <= heartbeat.interval) {
    throw new ConfigError("heartbeat.timeout: must be greater than heartbeat.interval");
  }
  if (config.auth.mode === "jwt" && !config.auth.secret && !config.auth.publicKey && !config.auth.jwksUrl) {
    throw new ConfigError("auth.mode: jwt needs auth.secret, auth.publicKey or auth.jwksUrl");
  }
}
