import assert from "node:assert/strict";
import { ConfigError, defaultConfig, envName, loadConfig } from "../../src/config/load.ts";
import { SCHEMA } from "../../src/config/schema.ts";
import { ListenError } from "../../src/transport/listen.ts";

/** Load `text` as if it were the file `app.yaml` and return the error message. */
async function yamlError(text: string): Promise<string> {
  const error = await loadConfig({ text, path: "app.yaml" }).then(
    () => assert.fail(`expected a ConfigError for ${JSON.stringify(text)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConfigError, String(error));
  return error.message;
}

Deno.test("config: defaults match the Go servers", async () => {
  const config = await loadConfig();
  assert.equal(config.app.httpPort, 8080);
  assert.equal(config.app.webSocketPort, 8089);
  assert.equal(config.app.rpcPort, 9001);
  assert.deepEqual(config.im.appIds, [101, 102, 103, 104]);
  assert.equal(config.im.maxUserIdBytes, 19);
  assert.equal(config.im.multiDevice, "multi");
  assert.equal(config.im.maxFrameBytes, 64 * 1024);
  assert.equal(config.im.msgIdDedupTtl, 12 * 3600);
  assert.equal(config.heartbeat.interval, 30);
  assert.equal(config.heartbeat.timeout, 360);
  assert.equal(config.heartbeat.sweep, 30);
  assert.equal(config.heartbeat.firstSweep, 3);
  assert.equal(config.heartbeat.onlineWindow, 180);
  assert.equal(config.http.corsOrigin, "*");
  assert.equal(config.auth.mode, "none");
  assert.equal(config.cluster.enabled, false);
});

Deno.test("config: defaultConfig returns independent copies", () => {
  const a = defaultConfig();
  a.im.appIds.push(999);
  assert.deepEqual(defaultConfig().im.appIds, [101, 102, 103, 104]);
});

Deno.test("config: the shipped config/app.yaml is valid and keeps the seed's ports", async () => {
  const config = await loadConfig({ path: "config/app.yaml", required: true });
  assert.equal(config.app.httpPort, 8080);
  assert.equal(config.app.webSocketPort, 8089);
  assert.equal(config.redis.DB, 0);
});

Deno.test("config: YAML values override defaults, untouched keys keep theirs", async () => {
  const config = await loadConfig({
    path: "x.yaml",
    text: [
      "app:",
      "  httpPort: 0",
      "  webSocketPort: 9999",
      "  httpUrl: 127.0.0.1:1 # a comment",
      "im:",
      "  appIds: [7, 8]",
      "  multiDevice: single",
      "  enterExitPushes: false",
      "heartbeat:",
      "  sweep: 0.5",
      "redis:",
      "  DB: 3",
    ].join("\n"),
  });
  assert.equal(config.app.httpPort, 0);
  assert.equal(config.app.webSocketPort, 9999);
  assert.equal(config.app.httpUrl, "127.0.0.1:1");
  assert.deepEqual(config.im.appIds, [7, 8]);
  assert.equal(config.im.multiDevice, "single");
  assert.equal(config.im.enterExitPushes, false);
  assert.equal(config.heartbeat.sweep, 0.5);
  assert.equal(config.redis.DB, 3);
  assert.equal(config.im.maxUserIdBytes, 19);
});

Deno.test("config: an empty file and an empty section mean defaults", async () => {
  assert.deepEqual(await loadConfig({ text: "" }), defaultConfig());
  assert.deepEqual(await loadConfig({ text: "# only a comment\napp:\n" }), defaultConfig());
  assert.deepEqual(await loadConfig({ text: "app:\n  # httpPort: 1\nim:\n" }), defaultConfig());
  // A key with no value is a wrong type, not a silent default.
  assert.match(await yamlError("app:\n  httpPort:\n"), /^app\.yaml:2: app\.httpPort: expected an integer/);
});

Deno.test("config: env names follow IM_<SECTION>_<KEY> in upper case", () => {
  assert.equal(envName("app", "httpPort"), "IM_APP_HTTPPORT");
  assert.equal(envName("redis", "DB"), "IM_REDIS_DB");
  assert.equal(envName("im", "appIds"), "IM_IM_APPIDS");
  // Every key has a distinct variable (no two keys collide once upper-cased).
  const names = Object.entries(SCHEMA).flatMap(([s, fields]) =>
    Object.keys(fields).map((k) => envName(s, k))
  );
  assert.equal(new Set(names).size, names.length);
});

Deno.test("config: env overrides win over YAML; lists are comma-separated", async () => {
  const config = await loadConfig({
    text: "app:\n  httpPort: 1234\nim:\n  appIds: [1]\n",
    env: {
      IM_APP_HTTPPORT: "0",
      IM_IM_APPIDS: "101, 102,103",
      IM_IM_ENTEREXITPUSHES: "false",
      IM_REDIS_ADDR: "10.0.0.5:6379",
      IM_API_KEYS: "k1,k2:101",
      IM_HEARTBEAT_SWEEP: "0.25",
      UNRELATED: "ignored",
    },
  });
  assert.equal(config.app.httpPort, 0);
  assert.deepEqual(config.im.appIds, [101, 102, 103]);
  assert.equal(config.im.enterExitPushes, false);
  assert.equal(config.redis.addr, "10.0.0.5:6379");
  assert.deepEqual(config.api.keys, ["k1", "k2:101"]);
  assert.equal(config.heartbeat.sweep, 0.25);
  // An empty list variable means the empty list (im.appIds: any app).
  assert.deepEqual((await loadConfig({ env: { IM_IM_APPIDS: "" } })).im.appIds, []);
});

Deno.test("config: bad env values name the variable, the key and the raw value", async () => {
  for (
    const [env, key] of [
      [{ IM_APP_HTTPPORT: "x" }, "app.httpPort"],
      [{ IM_APP_HTTPPORT: "70000" }, "app.httpPort"],
      [{ IM_IM_APPIDS: "1,a" }, "im.appIds"],
      [{ IM_IM_ENTEREXITPUSHES: "yes" }, "im.enterExitPushes"],
      [{ IM_IM_MULTIDEVICE: "many" }, "im.multiDevice"],
      [{ IM_APP_HTTPPORT: "abc" }, "app.httpPort"],
      [{ IM_HEARTBEAT_SWEEP: "1.5x" }, "heartbeat.sweep"],
      [{ IM_IM_APPIDS: "101,,x" }, "im.appIds"],
    ] as const
  ) {
    const name = Object.keys(env)[0];
    const error = await loadConfig({ env }).catch((e) => e);
    assert.ok(error instanceof ConfigError, `${name}: ${error}`);
    const raw = Object.values(env)[0];
    assert.ok(
      error.message.startsWith(`environment ${name}=${JSON.stringify(raw)} (${key}): `),
      error.message,
    );
    // The value as typed, not what Number() made of it ("abc" → NaN used to print as `got null`).
    assert.ok(error.message.endsWith(`, got ${JSON.stringify(raw)}`), error.message);
  }
  assert.equal(
    (await loadConfig({ env: { IM_APP_HTTPPORT: "abc" } }).catch((e) => e)).message,
    'environment IM_APP_HTTPPORT="abc" (app.httpPort): expected an integer, got "abc"',
  );
});

/** The ConfigError message of loading with `env`. */
async function envError(env: Record<string, string>): Promise<string> {
  const error = await loadConfig({ env }).then(
    () => assert.fail(`expected a ConfigError for ${JSON.stringify(env)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConfigError, String(error));
  return error.message;
}

Deno.test("config: an IM_* variable that names no setting is an error, with the likely key", async () => {
  // Typos a first-time user makes: transposed letters, a missing or extra letter, the wrong case.
  for (
    const [name, meant] of [
      ["IM_APP_HTTPPROT", "IM_APP_HTTPPORT"],
      ["IM_APP_HTTPORT", "IM_APP_HTTPPORT"],
      ["IM_APP_WEBSOCKETPORTS", "IM_APP_WEBSOCKETPORT"],
      ["im_app_httpPort", "IM_APP_HTTPPORT"],
      ["IM_REDIS_ADRR", "IM_REDIS_ADDR"],
      ["IM_CONFG", "IM_CONFIG"],
      ["IM_CLUSTER_NODEIDS", "IM_CLUSTER_NODEID"],
    ]
  ) {
    assert.equal(
      await envError({ [name]: "1" }),
      `environment ${name} is not a setting; did you mean ${meant}?`,
    );
  }
  // Same letters in another order, too far apart for the edit distance.
  assert.match(await envError({ IM_APP_PORTHTTP: "1" }), /did you mean IM_APP_HTTPPORT\?$/);
  // Nothing close: the rule instead of a guess.
  const far = await envError({ IM_NOPE_XYZZY: "1" });
  assert.match(far, /^environment IM_NOPE_XYZZY is not a setting/);
  assert.doesNotMatch(far, /did you mean/);
  assert.match(far, /IM_<SECTION>_<KEY>/);
  // Several: the first (sorted) and the others by name.
  assert.match(
    await envError({ IM_ZZZ: "1", IM_APP_HTTPPROT: "1", IM_YYY: "1" }),
    /^environment IM_APP_HTTPPROT is not a setting; did you mean IM_APP_HTTPPORT\? \(also not settings: IM_YYY, IM_ZZZ\)$/,
  );
});

Deno.test("config: IM_CONFIG, im-config's IM_CONFIG_* and variables without the IM_ prefix are allowed", async () => {
  // IM_CONFIG_PHASE / IM_CONFIG_CHECK_ENV: Ubuntu's input-method switcher exports them into terminals.
  const env = {
    IM_CONFIG: "x.yaml",
    IM_CONFIG_PHASE: "1",
    IM_CONFIG_CHECK_ENV: "1",
    HOME: "/root",
    IMPORTANT: "1",
    MY_IM_X: "1",
  };
  const config = await loadConfig({ env });
  assert.deepEqual(config, defaultConfig());
});

Deno.test("config: invalid YAML names the file and line", async () => {
  const message = await yamlError("app:\n  httpPort: 8080\n  webSocketPort: [1\n");
  assert.match(message, /^app\.yaml:\d+: invalid YAML/);
  const dup = await yamlError("app:\n  httpPort: 1\n  httpPort: 2\n");
  assert.match(dup, /^app\.yaml:3: invalid YAML/);
});

Deno.test("config: wrong type names key and line", async () => {
  const message = await yamlError("app:\n  logLevel: info\n  httpPort: abc\n");
  assert.match(message, /^app\.yaml:3: app\.httpPort: expected an integer/);
  assert.match(await yamlError("im:\n  appIds: 101\n"), /^app\.yaml:2: im\.appIds: expected a list/);
  assert.match(await yamlError("im:\n  enterExitPushes: 1\n"), /^app\.yaml:2: im\.enterExitPushes/);
  assert.match(await yamlError("heartbeat:\n\n  interval: 1.5x\n"), /^app\.yaml:3: heartbeat\.interval/);
  assert.match(
    await yamlError("im:\n  multiDevice: many\n"),
    /^app\.yaml:2: im\.multiDevice: expected one of/,
  );
  assert.match(await yamlError("app:\n  httpPort: 80.5\n"), /app\.httpPort: expected an integer/);
});

Deno.test("config: port out of range names key and line", async () => {
  for (const bad of ["70000", "-1", "65536"]) {
    const message = await yamlError(`app:\n  hostname: 127.0.0.1\n  webSocketPort: ${bad}\n`);
    assert.match(message, /^app\.yaml:3: app\.webSocketPort: expected a value in \[0, 65535\]/);
  }
  // The bounds themselves are accepted.
  assert.equal((await loadConfig({ text: "app:\n  httpPort: 65535\n" })).app.httpPort, 65535);
});

Deno.test("config: unknown key and unknown section name themselves and their line", async () => {
  assert.match(await yamlError("app:\n  httpPort: 1\n  nope: 1\n"), /^app\.yaml:3: unknown key "app\.nope"/);
  assert.match(await yamlError("app:\n  httpPort: 1\nfoo:\n  a: 1\n"), /^app\.yaml:3: unknown section "foo"/);
  assert.match(await yamlError("- a\n"), /top level must be a mapping/);
  assert.match(await yamlError("app: 3\n"), /^app\.yaml:1: "app" must be a mapping/);
});

Deno.test("config: cross-key checks", async () => {
  assert.match(
    await yamlError("heartbeat:\n  interval: 60\n  timeout: 30\n"),
    /heartbeat\.timeout: must be greater than heartbeat\.interval/,
  );
  assert.match(await yamlError("auth:\n  mode: jwt\n"), /auth\.mode/);
});

Deno.test("config: a missing default file means defaults; a named missing file is an error", async () => {
  const missing = `${await Deno.makeTempDir()}/nope.yaml`;
  try {
    assert.deepEqual(await loadConfig({ path: missing, required: false }), defaultConfig());
    const error = await loadConfig({ path: missing, required: true }).catch((e) => e);
    assert.ok(error instanceof ConfigError);
    assert.ok(error.message.includes(missing), error.message);
  } finally {
    await Deno.remove(missing.slice(0, -"/nope.yaml".length), { recursive: true });
  }
});

Deno.test("config: a file on disk is read and errors carry its path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.yaml`, "app:\n  httpPort: 0\n");
    assert.equal((await loadConfig({ path: `${dir}/a.yaml`, required: true })).app.httpPort, 0);
    await Deno.writeTextFile(`${dir}/b.yaml`, "app:\n  httpPort: 0\n  bogus: 1\n");
    const error = await loadConfig({ path: `${dir}/b.yaml`, required: true }).catch((e) => e);
    assert.ok(error instanceof ConfigError);
    assert.ok(error.message.startsWith(`${dir}/b.yaml:3: unknown key "app.bogus"`), error.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ListenError: address, port and setting, and the OS refusal in words", () => {
  const message = (host: string, port: number, cause: unknown) =>
    new ListenError(host, port, "app.httpPort", cause).message;
  assert.equal(
    message("127.0.0.1", 8080, new Deno.errors.AddrInUse("Address already in use (os error 98)")),
    "cannot listen on 127.0.0.1:8080 (app.httpPort): address already in use",
  );
  // Port 80 as non-root (not reproducible here: the tests run as root).
  assert.equal(
    message("0.0.0.0", 80, new Deno.errors.PermissionDenied("Permission denied (os error 13)")),
    "cannot listen on 0.0.0.0:80 (app.httpPort): permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
  );
  assert.equal(
    message("::1", 9000, new Deno.errors.PermissionDenied("x")),
    "cannot listen on [::1]:9000 (app.httpPort): permission denied",
  );
  assert.match(
    message("10.255.255.1", 1, new Deno.errors.AddrNotAvailable("x")),
    /: address not available on this host \(app\.hostname\)$/,
  );
  const cause = new TypeError("something else");
  const error = new ListenError("h", 1, "app.webSocketPort", cause);
  assert.equal(error.message, "cannot listen on h:1 (app.webSocketPort): something else");
  assert.equal(error.cause, cause);
});

Deno.test("config: the embedded store defaults to a durable SQLite file; memory is explicit", async () => {
  const config = await loadConfig();
  assert.equal(config.store.engine, "sqlite");
  assert.equal(config.store.path, "data/imserver.db");
  assert.equal(config.store.sync, "full");
  assert.equal(config.store.backupDir, "data/backups");
  const env = await loadConfig({
    env: { IM_STORE_ENGINE: "memory", IM_STORE_SYNC: "normal", IM_STORE_PATH: "/var/lib/im/x.db" },
  });
  assert.deepEqual([env.store.engine, env.store.sync, env.store.path], [
    "memory",
    "normal",
    "/var/lib/im/x.db",
  ]);
  assert.match(
    await yamlError("store:\n  engine: redis\n"),
    /^app\.yaml:2: store\.engine: expected one of sqlite, memory/,
  );
  assert.match(await yamlError("store:\n  sync: off\n"), /store\.sync: expected one of full, normal/);
  assert.match(await yamlError('store:\n  path: ""\n'), /store\.path: .*sqlite/);
  // memory needs no file; cluster mode keeps its store in Redis whatever store.* says
  assert.equal((await loadConfig({ text: 'store:\n  engine: memory\n  path: ""\n' })).store.path, "");
});
