/**
 * Logging setup (LogTape): console plus a rotating file at `app.logFile`.
 * Modules log through `getLogger(["imserver", "<area>"])`; nothing here is global until
 * {@linkcode setupLogging} runs, so tests stay quiet unless they opt in.
 *
 * @example
 * ```ts
 * const stop = await setupLogging(config);
 * getLogger(["imserver"]).info("started");
 * await stop();
 * ```
 * @module
 */
import {
  configure,
  dispose,
  getConsoleSink,
  getLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  type LogLevel,
  reset,
  type Sink,
} from "@logtape/logtape";
import { getRotatingFileSink } from "@logtape/file";
import type { Config } from "../config/load.ts";

export { getLogger, type Logger };

/** Configure console and file sinks; resolves to an async function that flushes and closes them. */
export async function setupLogging(config: Config): Promise<() => Promise<void>> {
  const sinks: Record<string, Sink> = {
    console: getConsoleSink({
      formatter: getTextFormatter({ timestamp: "date-time", value: redactingInspect }),
    }),
  };
  const logFile = config.app.logFile;
  if (logFile) {
    const dir = logFile.includes("/") ? logFile.slice(0, logFile.lastIndexOf("/")) : "";
    if (dir) await Deno.mkdir(dir, { recursive: true });
    sinks.file = getRotatingFileSink(logFile, {
      maxSize: config.app.logMaxBytes,
      maxFiles: config.app.logMaxFiles,
      formatter: jsonLinesFormatter,
    });
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["imserver"], lowestLevel: config.app.logLevel as LogLevel, sinks: Object.keys(sinks) },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["console"] },
    ],
  });
  return async () => {
    await dispose();
    await reset();
  };
}

const SECRET_KEYS = /token|secret|password|authorization|apikey|api_key/i;

/** Never let a token or key reach a log line, whatever property carries it. */
function redactingInspect(value: unknown): string {
  if (typeof value === "string") return value;
  return JSON.stringify(value, (key, v) => (key && SECRET_KEYS.test(key) ? "[redacted]" : v)) ??
    String(value);
}
