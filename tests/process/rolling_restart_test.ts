/**
 * Rolling restart (cluster mode, real redis-server, 3 node processes): clients send continuously
 * while each node in turn is drained with SIGTERM (reconnect push + 1012) and started again. Clients
 * move to a live node, log in with `lastSeq` and resend unacknowledged messages with the same
 * `clientMsgId`. Every acknowledged message must be delivered exactly once: counted and asserted.
 * The figures are printed (sent, acknowledged, delivered, duplicates, lost).
 * @module
 */
import assert from "node:assert/strict";
import { redisTest } from "../support/redis_helper.ts";
import {
  clusterEnv,
  MAIN,
  type ServerProcess,
  spawnServer,
  START_FLAGS,
  stopServer,
} from "../support/node_process.ts";
import { tick } from "../support/helpers.ts";

const USERS = 6;
const SEND_EVERY_MS = 40;

function nodeEnv(redisPort: number, nodeId: string): Record<string, string> {
  return clusterEnv(redisPort, nodeId, 3, { IM_DRAIN_WINDOW: "1", IM_DRAIN_DEADLINE: "10" });
}

/** The live nodes, by id; clients pick any of them. */
class Fleet {
  readonly nodes = new Map<string, ServerProcess>();
  #turn = 0;
  constructor(readonly redisPort: number) {}
  async start(id: string): Promise<void> {
    const proc = await spawnServer(
      Deno.execPath(),
      ["run", ...START_FLAGS, MAIN],
      nodeEnv(this.redisPort, id),
    );
    this.nodes.set(id, proc);
  }
  /** SIGTERM (drain) and wait; returns the exit code. */
  async drain(id: string): Promise<number> {
    const proc = this.nodes.get(id)!;
    this.nodes.delete(id); // no new client goes there
    return await stopServer(proc, "SIGTERM");
  }
  pickPort(): number | undefined {
    const ports = [...this.nodes.values()].map((p) => p.wsPort);
    return ports.length ? ports[this.#turn++ % ports.length] : undefined;
  }
}

/** A user that stays logged in across node restarts and never gives up on a message. */
class Resilient {
  socket: WebSocket | undefined;
  ready = false;
  stopped = false;
  lastSeq = 0;
  epoch: string | undefined;
  reconnects = 0;
  /** clientMsgId → recipient, until acknowledged. */
  readonly unacked = new Map<string, string>();
  readonly acked = new Set<string>();
  /** body → times received. */
  readonly received = new Map<string, number>();
  #next = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed: Promise<void> = Promise.resolve();

  constructor(readonly userId: string, readonly fleet: Fleet) {}

  connect(): void {
    if (this.stopped) return;
    const port = this.fleet.pickPort();
    if (port === undefined) return this.#later(200);
    const ws = this.socket = new WebSocket(`ws://127.0.0.1:${port}/im`);
    let retryMs = 100;
    this.#closed = new Promise((resolve) => {
      ws.onclose = () => {
        resolve();
        this.ready = false;
        if (this.socket === ws) this.socket = undefined;
        this.reconnects++;
        this.#later(retryMs);
      };
    });
    ws.onerror = () => {};
    ws.onopen = () => {
      const data: Record<string, unknown> = { userId: this.userId, appId: 101, lastSeq: this.lastSeq };
      if (this.epoch) data.epoch = this.epoch;
      ws.send(JSON.stringify({ seq: "login", cmd: "login", data }));
    };
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data as string);
      const d = f.response?.data;
      if (f.cmd === "login") {
        if (f.response.code !== 200) return ws.close();
        this.epoch = d.inboxEpoch;
        this.ready = true;
        for (const [id, to] of this.unacked) this.#send(id, to); // resend with the same clientMsgId
      } else if (f.cmd === "sendMsg" && this.unacked.has(f.seq)) {
        if (f.response.code === 200) {
          this.acked.add(f.seq);
          this.unacked.delete(f.seq);
        }
      } else if (f.cmd === "msg") {
        this.received.set(d.msg, (this.received.get(d.msg) ?? 0) + 1);
        if (d.seq > this.lastSeq) this.lastSeq = d.seq;
      } else if (f.cmd === "reconnect") {
        retryMs = d.retryMs;
      }
    };
  }

  #later(ms: number): void {
    clearTimeout(this.#timer);
    if (!this.stopped) this.#timer = setTimeout(() => this.connect(), ms);
  }

  /** Queue one new message to `to` (sent now when logged in, else on the next login). */
  sendNew(to: string): void {
    const id = `${this.userId}-${++this.#next}`;
    this.unacked.set(id, to);
    if (this.ready) this.#send(id, to);
  }

  get sent(): number {
    return this.#next;
  }

  #send(id: string, to: string): void {
    this.socket?.send(JSON.stringify({ seq: id, cmd: "sendMsg", data: { to, msg: id, clientMsgId: id } }));
  }

  /** Resend what is still unacknowledged (a reply lost in a close). */
  retryUnacked(): void {
    if (this.ready) { for (const [id, to] of this.unacked) this.#send(id, to); }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.#timer);
    this.socket?.close();
    await this.#closed;
    clearTimeout(this.#timer);
  }
}

redisTest(
  "rolling restart: 3 cluster nodes drained in turn, every acknowledged message exactly once",
  async (redis) => {
    const fleet = new Fleet(redis.port);
    const ids = ["node-a", "node-b", "node-c"];
    const users: Resilient[] = [];
    let sending = true;
    let sender: Promise<void> = Promise.resolve();
    const exitCodes: number[] = [];
    try {
      for (const id of ids) await fleet.start(id);
      for (let i = 0; i < USERS; i++) users.push(new Resilient(`u${i}`, fleet));
      users.forEach((u) => u.connect());
      for (let i = 0; i < 200 && users.some((u) => !u.ready); i++) await tick(50);
      assert.ok(users.every((u) => u.ready), "all users logged in");

      sender = (async () => {
        for (let round = 0; sending && round < 5000; round++) {
          users.forEach((u, i) => u.sendNew(users[(i + 1) % USERS].userId));
          if (round % 25 === 0) users.forEach((u) => u.retryUnacked());
          await tick(SEND_EVERY_MS);
        }
      })();

      for (const id of ids) {
        await tick(1000);
        exitCodes.push(await fleet.drain(id));
        await fleet.start(id);
      }
      await tick(1000);
      sending = false;
      await sender;

      // Settle: everything acknowledged, and every acknowledged message received.
      const acked = () => users.flatMap((u) => [...u.acked]);
      const delivered = () => new Map(users.flatMap((u) => [...u.received]));
      for (let i = 0; i < 300; i++) {
        users.forEach((u) => u.retryUnacked());
        const got = delivered();
        if (users.every((u) => u.unacked.size === 0) && acked().every((id) => got.has(id))) break;
        await tick(100);
      }

      const sent = users.reduce((n, u) => n + u.sent, 0);
      const ackedIds = acked();
      const got = delivered();
      const lost = ackedIds.filter((id) => !got.has(id)).length;
      const duplicates = [...got.values()].reduce((n, c) => n + (c - 1), 0);
      const reconnects = users.reduce((n, u) => n + u.reconnects, 0);
      console.log(
        `rolling restart: sent=${sent} acknowledged=${ackedIds.length} delivered=${got.size} ` +
          `duplicates=${duplicates} lost=${lost} unacknowledged=${
            sent - ackedIds.length
          } reconnects=${reconnects} ` +
          `exitCodes=${exitCodes.join(",")}`,
      );
      assert.deepEqual(exitCodes, [0, 0, 0], "every drained node exits 0");
      assert.ok(reconnects >= 3, "clients were moved by the drains");
      assert.ok(ackedIds.length > 300, "traffic flowed during the restarts");
      assert.equal(ackedIds.length, sent, "every message was eventually acknowledged");
      assert.equal(lost, 0, "no acknowledged message lost");
      assert.equal(duplicates, 0, "no message delivered twice");
      assert.equal(got.size, ackedIds.length, "nothing delivered that was not sent");
    } finally {
      sending = false;
      await sender;
      await Promise.all(users.map((u) => u.stop()));
      await Promise.all([...fleet.nodes.keys()].map((id) => fleet.drain(id)));
    }
  },
);
