/**
 * RedisLink on one Redis (store/redis/link.ts): a command connection, and a second one for SUBSCRIBE made
 * on first use.
 *
 * @example
 * ```ts
 * const link = await SingleLink.connect({ urls: ["redis://127.0.0.1:6379"], cluster: false }, console.warn);
 * ```
 * @module
 */
import { createClient } from "redis";
import { RedisUnreachableError } from "./errors.ts";
import {
  clientOptions,
  closeQuietly,
  COMMAND_TIMEOUT_MS,
  Deadlines,
  destroyQuietly,
  type Listener,
  type RedisLink,
  type RedisOptions,
  Retries,
} from "./link_common.ts";

type Client = ReturnType<typeof createClient>;

/** One Redis: a command connection, and a second one for SUBSCRIBE made on first use. */
export class SingleLink implements RedisLink {
  readonly cluster = false;
  #sub: Promise<Client> | undefined;
  readonly #deadlines: Deadlines;

  private constructor(
    readonly client: Client,
    readonly label: string,
    readonly onError: Listener,
    readonly retries: Retries,
    readonly timeoutMs: number,
  ) {
    this.#deadlines = new Deadlines(timeoutMs);
  }

  static async connect(options: RedisOptions, onError: Listener): Promise<SingleLink> {
    const url = options.urls[0] ?? "redis://localhost:6379";
    const retries = new Retries();
    const client = createClient({ url, database: options.database, ...clientOptions(options, retries) });
    client.on("error", (e) => onError(String(e)));
    try {
      await client.connect();
    } catch (error) {
      destroyQuietly(client);
      throw new RedisUnreachableError(url, error);
    }
    retries.connected();
    const timeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
    return new SingleLink(client as Client, url, onError, retries, timeoutMs);
  }

  send<T>(_key: string | undefined, args: readonly string[]): Promise<T> {
    return this.#deadlines.run(this.client.sendCommand([...args]) as Promise<T>);
  }
  get isReady(): boolean {
    return this.client.isReady;
  }
  get reachable(): boolean {
    return this.client.isReady;
  }
  onReady(fn: () => void): void {
    this.client.on("ready", fn);
    void this.#subscriber().then((s) => s.on("ready", fn), () => {});
  }
  offReady(fn: () => void): void {
    this.client.off("ready", fn);
    void this.#sub?.then((s) => s.off("ready", fn), () => {});
  }
  publish(channel: string, message: string): Promise<number> {
    return this.#deadlines.run(this.client.publish(channel, message));
  }
  async subscribe(channel: string, listener: Listener): Promise<void> {
    await this.#deadlines.run(this.#subscriber().then((s) => s.subscribe(channel, listener)));
  }
  async unsubscribe(channel: string): Promise<void> {
    await this.#deadlines.run(this.#subscriber().then((s) => s.unsubscribe(channel)));
  }
  refreshTopology(): void {}

  #subscriber(): Promise<Client> {
    this.#sub ??= (async () => {
      const dup = this.client.duplicate();
      dup.on("error", (e) => this.onError(String(e)));
      await dup.connect();
      return dup as Client;
    })();
    return this.#sub;
  }

  async close(): Promise<void> {
    const sub = await this.#sub?.catch(() => undefined);
    await closeQuietly(sub, this.timeoutMs);
    await closeQuietly(this.client, this.timeoutMs);
    this.#deadlines.close();
    await this.retries.close();
  }
}
