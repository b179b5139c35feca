/**
 * Admission and abuse limits of the WebSocket edge (config section `limits`):
 * origin allow-list, global and per-IP connection caps, login attempts per IP per minute and a
 * per-connection token bucket on frames. Each refusal has its own reply code and close code
 * (docs/SECURITY.md). Refused upgrades are accepted and closed at once with the close code, because
 * a browser cannot read the HTTP status of a failed WebSocket handshake.
 *
 * @example
 * ```ts
 * const limits = new Limits(config, clock);
 * Deno.serve(createWsHandler(ctx, router, limits.admission()));
 * ```
 * @module
 */
import type { Client } from "./client.ts";
import type { Clock } from "./clock.ts";
import type { Config } from "./config.ts";
import { ImError } from "./errors.ts";
import { CloseCode, Code, encodePush, encodeReply } from "./protocol.ts";
import type { AdmissionCheck } from "./ws_server.ts";

/** Verdict of {@linkcode Limits.frame}. */
export type FrameVerdict =
  | { ok: true }
  | { ok: false; retryMs: number; close: boolean };

const LOGIN_WINDOW_MS = 60_000;
/** Refused-but-upgraded sockets allowed at once (see `#refuse`). */
export const MAX_REFUSING = 64;
/** Jitter added to retry hints so refused clients do not come back in lockstep. */
const JITTER_MS = 1000;
const jitter = () => Math.floor(Math.random() * JITTER_MS);

/** Limit state of one node. */
export class Limits {
  readonly #limits: Config["limits"];
  readonly #clock: Clock;
  readonly #origins: ReadonlySet<string>;
  readonly #perIp = new Map<string, number>();
  readonly #tracked = new WeakSet<Client>();
  #total = 0;
  readonly #logins = new Map<string, { start: number; count: number }>();
  #loginSweepAt = 0;
  #refusing = 0;
  /** Connections whose token bucket has been filled once. */
  readonly #buckets = new WeakSet<Client>();
  /** Consecutive refused frames per connection (abuse detection). */
  readonly #strikes = new WeakMap<Client, number>();

  readonly #onRefuse: (reason: string) => void;

  /** `onRefuse` is told why an upgrade was refused (a metrics hook). */
  constructor(config: Config, clock: Clock, onRefuse: (reason: string) => void = () => {}) {
    this.#limits = config.limits;
    this.#clock = clock;
    this.#onRefuse = onRefuse;
    this.#origins = new Set(config.limits.allowedOrigins.map((o) => o.replace(/\/+$/, "").toLowerCase()));
  }

  /** Open connections counted against the caps (a metric). */
  get connections(): number {
    return this.#total;
  }

  /** The admission checks for `createWsHandler`: origin first, then the connection caps. */
  admission(): AdmissionCheck[] {
    return [(req) => this.#checkOrigin(req), (req, ip) => this.#checkCaps(req, ip)];
  }

  /** Count a connection against the caps; call once when it is accepted. */
  track(client: Client): void {
    if (this.#tracked.has(client)) return;
    this.#tracked.add(client);
    this.#total++;
    this.#perIp.set(client.ip, (this.#perIp.get(client.ip) ?? 0) + 1);
  }

  /** Release a tracked connection (idempotent). */
  untrack(client: Client): void {
    if (!this.#tracked.has(client)) return;
    this.#tracked.delete(client);
    this.#total--;
    const n = (this.#perIp.get(client.ip) ?? 1) - 1;
    if (n <= 0) this.#perIp.delete(client.ip);
    else this.#perIp.set(client.ip, n);
  }

  /**
   * Token bucket of one connection (`messagesPerSecond`, `messageBurst`). A refused frame gets
   * code 1012; more than `messageBurst` refused frames in a row is abuse: close 4003.
   */
  frame(client: Client): FrameVerdict {
    const { messagesPerSecond: rate, messageBurst: burst } = this.#limits;
    const now = this.#clock.now();
    if (!this.#buckets.has(client)) {
      this.#buckets.add(client);
      client.tokens = burst;
    } else {
      client.tokens = Math.min(burst, client.tokens + ((now - client.tokensAt) * rate) / 1000);
    }
    client.tokensAt = now;
    if (client.tokens >= 1) {
      client.tokens -= 1;
      if (this.#strikes.has(client)) this.#strikes.delete(client);
      return { ok: true };
    }
    const strikes = (this.#strikes.get(client) ?? 0) + 1;
    this.#strikes.set(client, strikes);
    const retryMs = Math.ceil(((1 - client.tokens) * 1000) / rate);
    return { ok: false, retryMs, close: strikes > burst };
  }

  /**
   * Count a login attempt from `ip`; over `loginsPerIpPerMinute` throws ImError 1023 that closes
   * the connection with 4007 and a retry hint (end of the window plus jitter).
   */
  checkLogin(ip: string): void {
    const now = this.#clock.now();
    this.#sweepLogins(now);
    let slot = this.#logins.get(ip);
    if (!slot || now - slot.start >= LOGIN_WINDOW_MS) {
      slot = { start: now, count: 0 };
      this.#logins.set(ip, slot);
    }
    slot.count++;
    if (slot.count > this.#limits.loginsPerIpPerMinute) {
      const retryMs = slot.start + LOGIN_WINDOW_MS - now + jitter();
      throw new ImError(Code.LoginRateLimited, "too many login attempts from this address", {
        closeCode: CloseCode.LoginRateLimited,
        retryMs,
      });
    }
  }

  /** Drop expired login windows at most once per window, so the map stays bounded by active IPs. */
  #sweepLogins(now: number): void {
    if (now - this.#loginSweepAt < LOGIN_WINDOW_MS) return;
    this.#loginSweepAt = now;
    for (const [ip, slot] of this.#logins) {
      if (now - slot.start >= LOGIN_WINDOW_MS) this.#logins.delete(ip);
    }
  }

  #checkOrigin(req: Request): Response | undefined {
    if (this.#origins.size === 0 || this.#origins.has("*")) return undefined;
    // Non-browser clients send no Origin; the allow-list protects against cross-site pages.
    const origin = req.headers.get("origin");
    if (origin === null || this.#origins.has(origin.replace(/\/+$/, "").toLowerCase())) return undefined;
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
   * Complete the handshake, send one error frame and close with `closeCode`, so every client
   * (browsers included) sees a documented code. A refused socket lives until the peer answers the
   * close (Deno cannot abort it), so at most {@linkcode MAX_REFUSING} are in flight; beyond that,
   * and for requests that cannot be upgraded, the refusal is a plain HTTP `status`.
   */
  #refuse(
    req: Request,
    code: number,
    closeCode: number,
    message: string,
    retryMs?: number,
    status = 503,
  ): Response {
    const plain = () => new Response(`${status} ${message}\n`, { status });
    if (this.#refusing >= MAX_REFUSING) return plain();
    let upgraded: { socket: WebSocket; response: Response };
    try {
      upgraded = Deno.upgradeWebSocket(req);
    } catch {
      return plain();
    }
    const { socket, response } = upgraded;
    this.#refusing++;
    const data: Record<string, unknown> = { error: message };
    if (retryMs !== undefined) data.retryMs = retryMs;
    socket.onopen = () => {
      try {
        socket.send(encodeReply("", "", code, data));
        socket.close(closeCode, retryMs === undefined ? message : `${message}; retry in ${retryMs} ms`);
      } catch {
        // the peer went away already
      }
    };
    socket.onerror = () => {};
    socket.onclose = () => this.#refusing--;
    return response;
  }
}

/** Close every connection whose token has expired: `tokenExpired` push, then close 4002. */
export function expireTokens(
  clients: Iterable<Client>,
  now: number,
  onExpired?: (c: Client) => void,
): number {
  let n = 0;
  for (const client of clients) {
    if (client.expiresAt > now || !client.open) continue;
    client.send(encodePush("tokenExpired", { code: Code.TokenExpired, expiresAt: client.expiresAt }));
    client.close(CloseCode.TokenExpired, "token expired; log in with a new token");
    client.expiresAt = Infinity;
    onExpired?.(client);
    n++;
  }
  return n;
}
