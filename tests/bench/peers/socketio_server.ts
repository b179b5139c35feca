/**
 * The peer of issue 15's cross-node target: a Socket.IO server (npm `socket.io` 4, Engine.IO v4 /
 * Socket.IO v5 protocol) on Deno's node compat (`node:http`), joined to the other nodes by the Redis adapter
 * (npm `@socket.io/redis-adapter` over node-redis pub/sub clients). WebSocket transport only, no
 * compression, no client bundle served.
 *
 * The bench protocol, kept minimal and equivalent to imserver's 1:1 path (events with acks):
 * - `login {userId}` → the socket joins room `u:<userId>`; ack `{ok: 1, userId}`.
 * - `send {to, msg, id}` → `io.to("u:" + to).emit("msg", {from, msg, id})`: the adapter publishes every
 *   broadcast on Redis (channel `socket.io#/#u:<to>#`) and every node delivers it to its local members, so a
 *   message to a user on the other node crosses Redis; ack `{ok: 1, id}` to the sender.
 *
 * Unlike imserver, it stores nothing: no inbox seq, no durable summary, no presence, no validation or rate
 * limits (imserver appends every message to the recipient's inbox in Redis before it routes it).
 *
 * Run: `deno run --allow-net=127.0.0.1 tests/bench/peers/socketio_server.ts --redis=127.0.0.1:PORT`
 * (`--port=P`, default 0 = a free port; `--hostname=H`, default 127.0.0.1) → prints
 * `socket.io listening ws=PORT`; clients connect to `ws://H:PORT/socket.io/?EIO=4&transport=websocket`.
 * @module
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

/** A running peer node. */
export interface SocketIoPeer {
  port: number;
  close(): Promise<void>;
}

interface LoginData {
  userId?: unknown;
}

interface SendData {
  to?: unknown;
  msg?: unknown;
  id?: unknown;
}

type Ack = ((reply: unknown) => void) | undefined;

/** Start a peer node on `hostname:port` (0 = a free port) with the Redis adapter on `redisAddr` (host:port). */
export async function startSocketIoPeer(
  redisAddr: string,
  port = 0,
  hostname = "127.0.0.1",
): Promise<SocketIoPeer> {
  const pubClient = createClient({ url: `redis://${redisAddr}` });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) c.on("error", (e: Error) => console.error(`redis: ${e.message}`));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const http = createServer();
  const io = new Server(http, {
    transports: ["websocket"],
    serveClient: false,
    perMessageDeflate: false,
    httpCompression: false,
    adapter: createAdapter(pubClient, subClient),
  });
  io.on("connection", (socket) => {
    let user: string | undefined;
    socket.on("login", (d: LoginData, ack: Ack) => {
      user = String(d?.userId);
      socket.join(`u:${user}`);
      ack?.({ ok: 1, userId: user });
    });
    socket.on("send", (d: SendData, ack: Ack) => {
      if (user === undefined) return ack?.({ ok: 0, error: "not logged in" });
      io.to(`u:${d?.to}`).emit("msg", { from: user, msg: d?.msg, id: d?.id });
      ack?.({ ok: 1, id: d?.id });
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, hostname, () => resolve());
  });
  return {
    port: (http.address() as AddressInfo).port,
    close: async () => {
      // io.close() also closes the HTTP server; the pub/sub clients go after it.
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await Promise.allSettled([pubClient.close(), subClient.close()]);
    },
  };
}

if (import.meta.main) {
  const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const redisAddr = arg("redis");
  if (!redisAddr) {
    console.error("usage: socketio_server.ts --redis=HOST:PORT [--port=P] [--hostname=H]");
    Deno.exit(2);
  }
  const peer = await startSocketIoPeer(redisAddr, Number(arg("port") ?? 0), arg("hostname") ?? "127.0.0.1");
  console.log(`socket.io listening ws=${peer.port}`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.race([peer.close(), new Promise((r) => setTimeout(r, 5000))]);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
