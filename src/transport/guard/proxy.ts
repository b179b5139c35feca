/**
 * Proxy guard backend: relays each accepted connection to a `Deno.serve` on a loopback port (public
 * API only). A {@linkcode RequestHeads} tracker finds request heads until a 101 turns the connection
 * into a tunnel, which is then relayed without deadlines. Works with WebSocket, at a cost in CPU per
 * chunk and two more sockets per connection (docs/SECURITY.md has the figures).
 *
 * @example
 * ```ts
 * const backend = new ProxyBackend(handler, core);
 * backend.serve(conn);
 * ```
 * @module
 */
import { serveResilient } from "../resilient_serve.ts";
import {
  CLOSE_LINGER_MS,
  closeQuietly,
  type GuardCore,
  type Handler,
  RELAY_BUFFER,
  saysClose,
  SHUTDOWN_GRACE_MS,
  writeAll,
} from "./core.ts";
import { RequestHeads } from "./http_heads.ts";

/**
 * Relayed connections this process can hold: a third of its open-file limit (Linux
 * `/proc/self/limits`), less `reserve` descriptors for everything else; undefined when unknown.
 */
export function relayCapacity(reserve = 1024): number | undefined {
  try {
    const line = Deno.readTextFileSync("/proc/self/limits").split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) && soft > 0 ? Math.max(1, Math.floor((soft - reserve) / 3)) : undefined;
  } catch {
    return undefined; // not Linux, or no read permission
  }
}

/** A `Deno.serve` on a loopback port, fed by a relay per accepted connection. */
export class ProxyBackend {
  readonly #core: GuardCore;
  readonly #inner: { addr: Deno.NetAddr; shutdown(): Promise<void> };
  readonly #innerPort: number;
  /** Local port of a relay's loopback connection → its relay (the real client address). */
  readonly #peers = new Map<number, Relay>();
  readonly #relays = new Set<Relay>();

  constructor(handler: Handler, core: GuardCore) {
    this.#core = core;
    // Resilient: Deno's serve loop dies on EMFILE; the relays' next connections need it back.
    this.#inner = serveResilient({ hostname: "127.0.0.1", port: 0 }, (req, info) => {
      const relay = this.#peers.get(info.remoteAddr.port);
      // Only the relays may talk to the inner listener: a direct local connection would bypass the guard.
      if (!relay) return new Response("403 forbidden\n", { status: 403 });
      const res = handler(req, {
        remoteAddr: relay.remoteAddr,
        get completed() {
          return info.completed;
        },
      });
      const check = (r: Response) => {
        if (saysClose(r)) relay.endAfter(info.completed);
        return r;
      };
      return res instanceof Promise ? res.then(check) : check(res);
    }, core.options.report);
    this.#innerPort = this.#inner.addr.port;
  }

  serve(conn: Deno.TcpConn): void {
    const relay = new Relay(conn, this.#core);
    this.#relays.add(relay);
    this.#core.open++;
    relay.run(this.#innerPort, this.#peers).finally(() => this.#relays.delete(relay));
  }

  /**
   * The inner server closes idle keep-alive connections and finishes requests in flight; tunnels
   * end with their WebSocket close handshake. Whatever is left after the grace period (a head
   * still arriving, a peer that never answers a close) is closed.
   */
  async shutdown(): Promise<void> {
    const inner = this.#inner.shutdown();
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([inner, ...[...this.#relays].map((r) => r.done)]),
      new Promise<void>((r) => grace = setTimeout(r, SHUTDOWN_GRACE_MS)),
    ]);
    clearTimeout(grace);
    for (const r of this.#relays) r.close();
    await Promise.all([inner, ...[...this.#relays].map((r) => r.done)]);
  }
}

/** One relayed connection: client ⇄ inner listener, with deadlines until it becomes a tunnel. */
class Relay {
  readonly #client: Deno.TcpConn;
  readonly #core: GuardCore;
  readonly #heads: RequestHeads;
  #upstream: Deno.TcpConn | undefined;
  #closed = false;
  #counted = true;
  /** When the head in progress must be complete (ms, performance.now; Infinity = none). */
  #headDeadline = Infinity;
  /** When the body in progress must be through (a chunked one: until the connection ends). */
  #bodyDeadline = Infinity;
  #lastActivity = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  /** Client bytes are read and dropped: the request stream towards the server has ended. */
  #draining = false;
  #clientEnded = false;
  #linger: ReturnType<typeof setTimeout> | undefined;
  #done!: Promise<void>;

  constructor(client: Deno.TcpConn, core: GuardCore) {
    this.#client = client;
    this.#core = core;
    this.#heads = new RequestHeads(core.options.maxHeadBytes);
    if (core.options.headerTimeoutMs > 0) {
      this.#headDeadline = this.#lastActivity + core.options.headerTimeoutMs;
    }
    this.#schedule();
  }

  get tunnel(): boolean {
    return this.#heads.state === "tunnel";
  }

  get done(): Promise<void> {
    return this.#done;
  }

  /** The real client address (the handler's `info.remoteAddr`). */
  get remoteAddr(): Deno.NetAddr {
    return this.#client.remoteAddr as Deno.NetAddr;
  }

  run(innerPort: number, peers: Map<number, Relay>): Promise<void> {
    return this.#done = (async () => {
      let localPort = -1;
      try {
        this.#upstream = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
        // Without TCP_NODELAY, Nagle + delayed ACK stall back-to-back small frames by ~40 ms
        // (measured: rtt closed loop fell from 40k to 4k msgs/s, p99 49 ms).
        this.#client.setNoDelay(true);
        this.#upstream.setNoDelay(true);
        localPort = (this.#upstream.localAddr as Deno.NetAddr).port;
        peers.set(localPort, this);
        if (this.#closed) closeQuietly(this.#upstream);
        else await Promise.all([this.#up(this.#upstream), this.#down(this.#upstream)]);
      } catch {
        // connect failed or a side closed
      } finally {
        this.close();
        if (localPort >= 0) peers.delete(localPort);
      }
    })();
  }

  /**
   * The reply being sent says `connection: close`: once it is written, stop passing client bytes
   * on and end the request stream, so the inner server closes even with a body still unfinished.
   */
  endAfter(completed: Promise<void>): void {
    const end = () => {
      if (this.#closed || this.#draining) return;
      this.#draining = true;
      this.#upstream?.closeWrite().catch(() => {});
    };
    completed.then(end, end);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#linger);
    this.#timer = this.#linger = undefined;
    closeQuietly(this.#client);
    if (this.#upstream) closeQuietly(this.#upstream);
    this.#release();
  }

  #release(): void {
    if (!this.#counted) return;
    this.#counted = false;
    this.#core.open--;
  }

  /** Client → inner listener, watching request heads until the connection is a tunnel. */
  async #up(upstream: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(RELAY_BUFFER);
    try {
      for (;;) {
        const n = await this.#client.read(buf);
        if (n === null) break;
        if (this.#draining) continue; // the request stream is over; read only so nothing is reset
        const chunk = buf.subarray(0, n);
        if (!this.tunnel) this.#clientBytes(chunk);
        if (this.#closed) return;
        await writeAll(upstream, chunk);
      }
      this.#clientEnded = true;
      if (this.#draining) this.close();
      else await upstream.closeWrite();
    } catch {
      this.close();
    }
  }

  /** Inner listener → client; the first answer to an upgrade request decides tunnel or not. */
  async #down(upstream: Deno.TcpConn): Promise<void> {
    const buf = new Uint8Array(RELAY_BUFFER);
    try {
      for (;;) {
        const n = await upstream.read(buf);
        if (n === null) break;
        const chunk = buf.subarray(0, n);
        if (!this.tunnel) {
          this.#lastActivity = performance.now();
          if (this.#heads.state === "upgrade") {
            this.#heads.answer(chunk);
            if (this.tunnel) this.#becomeTunnel();
          }
        }
        await writeAll(this.#client, chunk);
      }
      // The server is done: half-close towards the client and let it read the rest (lingering close).
      if (this.#clientEnded || this.#closed) return this.close();
      this.#draining = true;
      await this.#client.closeWrite();
      this.#linger = setTimeout(() => this.close(), CLOSE_LINGER_MS);
    } catch {
      this.close();
    }
  }

  #clientBytes(chunk: Uint8Array): void {
    const now = this.#lastActivity = performance.now();
    const { headerTimeoutMs } = this.#core.options;
    const seen = this.#heads.feed(chunk);
    if (this.#heads.state === "too_large") {
      this.#core.onDrop("http_head_too_large");
      this.close();
      return;
    }
    if (seen.completed > 0 && !this.#heads.inHead) this.#headDeadline = Infinity;
    if (seen.started && headerTimeoutMs > 0) this.#headDeadline = now + headerTimeoutMs;
    const state = this.#heads.state;
    const bodyTimeoutMs = this.#core.options.bodyTimeoutMs ?? 0;
    if (state === "head") this.#bodyDeadline = Infinity;
    else if (
      seen.completed > 0 && (state === "body" || state === "opaque") && bodyTimeoutMs > 0 &&
      this.#bodyDeadline === Infinity
    ) this.#bodyDeadline = now + bodyTimeoutMs + 1000;
    if (seen.started || seen.completed > 0) this.#schedule();
  }

  #becomeTunnel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#release();
    this.#core.tunnels++;
    this.#done.finally(() => this.#core.tunnels--);
  }

  /** One timer per relay, at the earliest of the head, body and idle deadlines. */
  #schedule(): void {
    if (this.#closed || this.tunnel) return;
    const { idleTimeoutMs } = this.#core.options;
    const idleAt = idleTimeoutMs > 0 ? this.#lastActivity + idleTimeoutMs : Infinity;
    const at = Math.min(this.#headDeadline, this.#bodyDeadline, idleAt);
    if (at === Infinity || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#check(), Math.max(0, at - performance.now()));
  }

  #check(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    if (this.#closed || this.tunnel) return;
    const now = performance.now();
    const { idleTimeoutMs } = this.#core.options;
    if (now >= this.#headDeadline) {
      this.#core.onDrop("http_header_timeout");
      this.close();
    } else if (now >= this.#bodyDeadline) {
      this.#core.onDrop("http_body_timeout");
      this.close();
    } else if (idleTimeoutMs > 0 && now >= this.#lastActivity + idleTimeoutMs) {
      this.#core.onDrop("http_idle_timeout");
      this.close();
    } else this.#schedule();
  }
}
