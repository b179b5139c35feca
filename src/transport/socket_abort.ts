/**
 * Abort a server WebSocket whose peer never answers the close handshake. Deno's `WebSocket.close()`
 * sends the close frame and then waits for the peer's one forever (a peer that stopped reading, or that
 * sent half a frame, never answers): the socket, its descriptor and its admission slot stay. Deno has
 * no public abort; its own idle timeout closes the socket's resource, and so does this — through
 * `Deno[Deno.internal].core.tryClose` on the socket's resource id. Afterwards Deno fires `close` (code
 * 1005) as for any ended connection. When the runtime does not expose these (another Deno version),
 * nothing happens and the function says so: the socket then lingers as before.
 *
 * @example
 * ```ts
 * socket.close(4009, "login timeout");
 * setTimeout(() => socket.readyState !== WebSocket.CLOSED && abortSocket(socket), 5000);
 * ```
 * @module
 */

interface DenoInternals {
  core?: { tryClose?: (rid: number) => void };
}

/** Close the socket's connection now; false when this runtime offers no way to. */
export function abortSocket(socket: object): boolean {
  const internals = (Deno as unknown as Record<symbol, DenoInternals | undefined>)[
    (Deno as unknown as { internal: symbol }).internal
  ];
  const tryClose = internals?.core?.tryClose;
  const ridKey = Object.getOwnPropertySymbols(socket).find((s) => s.description === "[[rid]]");
  const rid = ridKey === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[ridKey];
  if (typeof tryClose !== "function" || typeof rid !== "number") return false;
  tryClose(rid);
  return true;
}
