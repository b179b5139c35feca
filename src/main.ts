/**
 * Entry point: `deno task start [--config path]`. Loads configuration, sets up logging,
 * starts the node and shuts it down gracefully on SIGINT/SIGTERM.
 * @module
 */
import { ConfigError, loadConfig } from "./config/load.ts";
import { setupLogging } from "./ops/log.ts";
import { startServer } from "./server.ts";
import { defaultConfigFile } from "./embedded.ts";
import { RedisUnreachableError } from "./cluster/node.ts";

/** `--config <path>` / `--config=<path>` from argv, else IM_CONFIG, else the default. */
export function configPath(args: string[], env: Record<string, string>): { path: string; required: boolean } {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--config" && args[i + 1]) return { path: args[i + 1], required: true };
    if (args[i].startsWith("--config=")) return { path: args[i].slice(9), required: true };
  }
  if (env.IM_CONFIG) return { path: env.IM_CONFIG, required: true };
  return { path: "config/app.yaml", required: false };
}

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  const { path, required } = configPath(Deno.args, env);
  let config;
  try {
    // No --config: ./config/app.yaml if present, else the shipped default (embedded when compiled).
    config = await loadConfig({ path: required ? path : await defaultConfigFile(path), required, env });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`imserver: config error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const stopLogging = await setupLogging(config);
  let server;
  try {
    server = await startServer(config);
  } catch (error) {
    // Cluster mode never falls back to memory: no Redis, no node.
    if (!(error instanceof RedisUnreachableError)) throw error;
    console.error(`imserver: cluster mode: ${error.message}`);
    await stopLogging();
    return 3;
  }
  // One plain line that scripts and tests parse for the chosen ports.
  console.log(`imserver listening http=${server.httpPort} ws=${server.wsPort} node=${server.nodeId}`);
  const stop = () => server.shutdown("server shutting down");
  // SIGTERM drains (reconnect hints, close 1012, exit 0 within drain.deadline, else 1); SIGINT is quick (1001).
  const drain = () => void server.drain().then((report) => report.onTime || Deno.exit(1));
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", drain);
  await server.finished;
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", drain);
  await stopLogging();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
