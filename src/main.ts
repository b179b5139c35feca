/**
 * Entry point: `deno task start [--config path]` (`--help` for the options). Parses the command
 * line, loads configuration, sets up logging, starts the node and shuts it down gracefully on
 * SIGINT/SIGTERM. Every start-up failure is one line on stderr and an exit code of {@linkcode EXIT}.
 * @module
 */
import { EXIT, parseArgs, usage, UsageError, VERSION } from "./config/cli.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { ListenError } from "./transport/listen.ts";
import { setupLogging } from "./ops/log.ts";
import { startServer } from "./server.ts";
import { defaultConfigFile } from "./embedded.ts";
import { RedisUnreachableError } from "./store/redis/errors.ts";
import { StoreOpenError } from "./store/sqlite/open.ts";

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  let command;
  try {
    command = parseArgs(Deno.args, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`imserver: ${error.message}`);
    return EXIT.config;
  }
  if (command.kind === "help") {
    console.log(usage());
    return EXIT.ok;
  }
  if (command.kind === "version") {
    console.log(`imserver ${VERSION} (deno ${Deno.version.deno})`);
    return EXIT.ok;
  }
  const { path, required } = command.config;
  let config;
  try {
    // No --config: ./config/app.yaml if present, else the shipped default (embedded when compiled).
    config = await loadConfig({ path: required ? path : await defaultConfigFile(path), required, env });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`imserver: config error: ${error.message}`);
      return EXIT.config;
    }
    throw error;
  }
  const stopLogging = await setupLogging(config);
  let server;
  try {
    server = await startServer(config);
  } catch (error) {
    // Cluster mode never falls back to memory: no Redis, no node. Nor does a bad store file.
    if (error instanceof RedisUnreachableError) console.error(`imserver: cluster mode: ${error.message}`);
    else if (error instanceof ListenError || error instanceof StoreOpenError) {
      console.error(`imserver: ${error.message}`);
    } else throw error;
    await stopLogging();
    // Deno.exit in the caller also ends whatever startServer had begun (timers, Redis connections).
    return error instanceof ListenError
      ? EXIT.listen
      : error instanceof StoreOpenError
      ? EXIT.store
      : EXIT.redis;
  }
  // One plain line that scripts and tests parse for the chosen ports.
  console.log(`imserver listening http=${server.httpPort} ws=${server.wsPort} node=${server.nodeId}`);
  const stop = () => server.shutdown("server shutting down");
  // SIGTERM drains (reconnect hints, close 1012, exit 0 within drain.deadline, else 1); SIGINT is quick (1001).
  const drain = () => void server.drain().then((report) => report.onTime || Deno.exit(EXIT.failure));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", drain);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", drain);
  await stopLogging();
  return EXIT.ok;
}

if (import.meta.main) Deno.exit(await main());
