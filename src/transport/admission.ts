/**
 * Admission of new WebSocket connections (config section `limits`): the origin allow-list and the
 * global and per-IP connection caps. Each refusal has its own reply code and close code
 * (docs/SECURITY.md). Refused upgrades are accepted and closed at once with the close code, because a
 * browser cannot read the HTTP status of a failed WebSocket handshake.
 *
 * @example
 * ```ts
 * const admission = new Admission({ ...config.limits, refusedGraceMs: 5000 }, (reason) => drops.inc({ reason }));
 * const refused = admission.check(req, ip); // a Response, or undefined to go on
 * admission.track(ip); ... admission.untrack(ip);
 * ```
 * @module
 */
import { CloseCode, Code } from "../protocol/codes.ts";
import { abortSocket } from "./socket_abort.ts";
import { encodeError } from "../protocol/envelope.ts";

/** Refused-but-upgraded sockets allowed at once (see {@linkcode Admission.check}). */
export const MAX_REFUSING = 64;
const JITTER_MS = 1000;

/** The limits admission applies. */
export interface AdmissionLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
  allowedOrigins: readonly string[];
  /** How long a refused socket may wait for the peer's answer to its close before it is aborted (ms). */
  refusedGraceMs: number;
}

/** Connection caps and origin checks of one node. */
export class Admission {
  readonly #limits: AdmissionLimits;
  readonly #origins: ReadonlySet<string>;
  readonly #onRefuse: (reason: string) => void;
  readonly #random: () => number;
  readonly #perIp = new Map<string, number>();
  #total = 0;
  #refusing = 0;

  /** `onRefuse` is told why an upgrade was refused (a metrics hook). */
  constructor(
    limits: AdmissionLimits,
    onRefuse: (reason: string) => void = () => {},
    random: () => number = Math.random,
  ) {
    this.#limits = limits;
    this.#onRefuse = onRefuse;
    this.#random = random;
    this.#origins = new Set(limits.allowedOrigins.map(normaliseOrigin));
  }

  /** Open connections counted against the caps. */
  get connections(): number {
    return this.#total;
  }

  /** Origin first, then the caps; a Response refuses the upgrade, undefined admits it. */
  check(req: Request, ip: string): Response | undefined {
    return this.#checkOrigin(req) ?? this.#checkCaps(req, ip);
  }

  /** Count an accepted connection from `ip`. */
  track(ip: string): void {
    this.#total++;
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
  }

  /** Release a connection counted by {@linkcode track} (call exactly once per track). */
  untrack(ip: string): void {
    this.#total--;
    const n = (this.#perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n);
  }

  #checkOrigin(req: Request): Response | undefined {
    if (this.#origins.size === 0 || this.#origins.has("*")) return undefined;
    // Non-browser clients send no Origin; the allow-list protects against cross-site pages.
    const origin = req.headers.get("origin");
    if (origin === null || this.#origins.has(normaliseOrigin(origin))) return undefined;
    this.#onRefuse("origin");
    return this.#refuse(
      req,
      Code.Unauthorized,
      CloseCode.OriginRefused,
      "origin not allowed",
      undefined,
      403,
    );
  }

  #checkCaps(req: Request, ip: string): Response | undefined {
    const { maxConnections, maxConnectionsPerIp } = this.#limits;
    const jitter = () => Math.floor(this.#random() * JITTER_MS);
    if (this.#total >= maxConnections) {
      this.#onRefuse("max_connections");
      return this.#refuse(
        req,
        Code.TooManyConnections,
        CloseCode.TooManyConnections,
        "server full",
        1000 + jitter(),
      );
    }
    if ((this.#perIp.get(ip) ?? 0) >= maxConnectionsPerIp) {
      this.#onRefuse("max_connections_per_ip");
      const why = "too many connections from this address";
      return this.#refuse(req, Code.TooManyConnections, CloseCode.TooManyConnections, why, 5000 + jitter());
    }
    return undefined;
  }

  /**
   * Complete the handshake, send one error frame and close with `closeCode`, so every client (browsers
   * included) sees a documented code. A refused socket lives until the peer answers the close or, at the
   * latest, `refusedGraceMs` after it (then it is aborted), so at most {@linkcode MAX_REFUSING} are in flight;
   * beyond that, and for requests that cannot be upgraded, the refusal is a plain HTTP `status`.
   */
  #refuse(
    req: Request,
    code: number,
    closeCode: number,
    message: string,
    retryMs: number | undefined,
    status = 503,
  ): Response {
    const plain = () => new Response(`${status} ${message}\n`, { status });
    if (this.#refusing >= MAX_REFUSING) return plain();
    let upgraded: { socket: WebSocket; response: Response };
    try {
      // No ping timer: once close() is called Deno's idle check no longer acts, the abort below does.
      upgraded = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    } catch {
      return plain();
    }
    const { socket, response } = upgraded;
    this.#refusing++;
    let abort: ReturnType<typeof setTimeout> | undefined;
    socket.onopen = () => {
      try {
        socket.send(encodeError("", "", code, message, { retryMs }));
        socket.close(closeCode, retryMs === undefined ? message : `${message}; retry in ${retryMs} ms`);
      } catch {
        // the peer went away already
      }
      // A peer that never answers the close would hold the socket, and a refusing slot, forever.
      abort = setTimeout(() => abortSocket(socket), this.#limits.refusedGraceMs);
    };
    socket.onerror = () => {};
    let closed = false;
    // Deno may fire close twice for one socket (an abort, a peer reset while a close is pending): count it once.
    socket.onclose = () => {
      clearTimeout(abort);
      if (closed) return;
      closed = true;
      this.#refusing--;
    };
    return response;
  }
}

function normaliseOrigin(origin: string): string {
  return origin.replace(/\/+$/, "").toLowerCase();
}
