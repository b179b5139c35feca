/**
 * `deno task backup [--url http://host:port]`: asks a running server for an online backup of its SQLite
 * store (`POST /api/v1/store/backup`) and prints where it was written. The server holds its database
 * file exclusively, so the copy is made by the server itself, while it serves; this script only asks.
 * Its own entry point: the server never imports it.
 *
 * Environment: `IMSERVER_URL` (default `http://127.0.0.1:8080`), `IMSERVER_API_KEY` (an unrestricted
 * key from `api.keys`, when keys are configured). Not `IM_*`: those name server settings, and a server
 * started from the same shell would refuse an unknown one. Permissions: `--allow-net` and
 * `--allow-env=IMSERVER_URL,IMSERVER_API_KEY`. Exit 0 with the result as JSON, 1 with one line on failure.
 *
 * @example
 * ```sh
 * IMSERVER_API_KEY=s3cret deno task backup --url http://10.0.0.11:8080
 * # {"path":"data/backups/imserver-2026-12-01T10-20-30-123Z.db","bytes":228196352,"durationMs":512,...}
 * ```
 * @module
 */

/** What the command line and environment ask for. */
export interface BackupRequest {
  url: string;
  key: string | undefined;
}

/**
 * Parse `--url <u>` / `--url=<u>` over the environment's defaults; throws on anything else.
 *
 * @example
 * ```ts
 * backupRequest(["--url", "http://h:1"], {}); // { url: "http://h:1", key: undefined }
 * ```
 */
export function backupRequest(
  args: readonly string[],
  env: Record<string, string | undefined>,
): BackupRequest {
  let url = env.IMSERVER_URL || "http://127.0.0.1:8080";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--url" && args[i + 1]) url = args[++i];
    else if (arg.startsWith("--url=")) url = arg.slice("--url=".length);
    else throw new Error(`unknown argument ${JSON.stringify(arg)} (usage: deno task backup [--url URL])`);
  }
  return { url: url.replace(/\/+$/, ""), key: env.IMSERVER_API_KEY || undefined };
}

/**
 * Ask the server at `request.url` for a backup; resolves to its reply data, rejects with the reason.
 *
 * @example
 * ```ts
 * const result = await requestBackup({ url: "http://127.0.0.1:8080", key: undefined });
 * ```
 */
export async function requestBackup(request: BackupRequest): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = request.key ? { authorization: `Bearer ${request.key}` } : {};
  const response = await fetch(`${request.url}/api/v1/store/backup`, { method: "POST", headers });
  const text = await response.text();
  let body: { code?: number; msg?: string; data?: Record<string, unknown> };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status} from ${request.url}: ${text.slice(0, 200)}`);
  }
  if (response.status !== 200 || body.code !== 200) {
    throw new Error(`HTTP ${response.status}, code ${body.code}: ${body.msg ?? "failed"}`);
  }
  return body.data ?? {};
}

if (import.meta.main) {
  try {
    const request = backupRequest(Deno.args, {
      IMSERVER_URL: Deno.env.get("IMSERVER_URL"),
      IMSERVER_API_KEY: Deno.env.get("IMSERVER_API_KEY"),
    });
    console.log(JSON.stringify(await requestBackup(request)));
  } catch (error) {
    console.error(`imserver backup: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
