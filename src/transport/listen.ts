/**
 * A listener that cannot bind, as one clear error naming the address, port and setting (exit code 4
 * in main.ts).
 * @module
 */

/**
 * A listener of the configuration that the system refuses to open (port in use, a port below 1024
 * without the privilege, an address this host does not have). `main.ts` prints the message — which
 * names the address, the port and the setting — and exits 4 instead of an uncaught stack trace.
 *
 * @example
 * ```ts
 * const error = new ListenError("127.0.0.1", 8080, "app.httpPort", new Deno.errors.AddrInUse());
 * error.message; // "cannot listen on 127.0.0.1:8080 (app.httpPort): address already in use"
 * ```
 */
export class ListenError extends Error {
  constructor(
    readonly hostname: string,
    readonly port: number,
    readonly setting: string,
    cause: unknown,
  ) {
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    super(`cannot listen on ${host}:${port} (${setting}): ${listenReason(port, cause)}`, { cause });
    this.name = "ListenError";
  }
}

/** The OS error in words an operator acts on; Deno's own text ("os error 98") says less. */
function listenReason(port: number, cause: unknown): string {
  if (cause instanceof Deno.errors.AddrInUse) return "address already in use";
  if (cause instanceof Deno.errors.PermissionDenied) {
    return port < 1024
      ? "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
      : "permission denied";
  }
  if (cause instanceof Deno.errors.AddrNotAvailable) {
    return "address not available on this host (app.hostname)";
  }
  return cause instanceof Error ? cause.message : String(cause);
}
