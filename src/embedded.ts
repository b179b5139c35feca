/**
 * Where the files shipped with the server are (the default config and the web client), for the
 * three ways it runs:
 * - from source (`deno task start`) and as a compiled binary (`deno task compile`, which embeds
 *   `config/` and `src/web/` with `--include`): this module is `src/embedded.ts`, so they are at
 *   `../config/` and `./web/` relative to it (inside the binary's virtual file system when compiled);
 * - from the one-file bundle (`deno task bundle` → `dist/imserver.js`): this code is inside the
 *   bundle, and the task copies `config/` and `web/` next to it.
 *
 * @example
 * ```ts
 * const file = await defaultConfigFile("config/app.yaml");
 * ```
 * @module
 */

const fromSource = import.meta.url.endsWith("/src/embedded.ts");

/** The default configuration shipped with the server. */
const shippedConfigUrl: URL = new URL(
  fromSource ? "../config/app.yaml" : "./config/app.yaml",
  import.meta.url,
);

/**
 * The config file to read when the user named none: `cwdPath` when it exists (an operator's file
 * in the working directory wins), else the shipped default (embedded in a compiled binary).
 */
export async function defaultConfigFile(cwdPath: string): Promise<string> {
  try {
    await Deno.stat(cwdPath);
    return cwdPath;
  } catch {
    try {
      const shipped = decodeURIComponent(shippedConfigUrl.pathname);
      await Deno.stat(shipped);
      return shipped;
    } catch {
      return cwdPath; // neither exists: built-in defaults (loadConfig tolerates a missing default)
    }
  }
}
