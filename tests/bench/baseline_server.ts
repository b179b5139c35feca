/**
 * The physical limit imserver is measured against: a bare `Deno.serve` + `Deno.upgradeWebSocket`
 * relay that speaks just enough of the imserver envelope for the same load generator to drive it
 * (login, logout, heartbeat, ping, sendMsg, joinRoom, roomMsg). No validation, no inbox, no
 * presence, no rate limits: one `JSON.parse` per frame, one `JSON.stringify` per push, the same
 * string sent to every room member.
 *
 * Run: `deno run --allow-net=127.0.0.1 tests/bench/baseline_server.ts` → prints
 * `baseline listening ws=PORT`.
 * @module
 */

interface Conn {
  socket: WebSocket;
  user: string | undefined;
}

const users = new Map<string, Set<Conn>>();
const rooms = new Map<string, Set<string>>();
let pushSeq = 0;

function reply(conn: Conn, seq: string, cmd: string, data: unknown): void {
  conn.socket.send(JSON.stringify({ seq, cmd, response: { code: 200, codeMsg: "Success", data } }));
}

function toUser(user: string, text: string, except?: Conn): void {
  const set = users.get(user);
  if (!set) return;
  for (const c of set) if (c !== except) c.socket.send(text);
}

function logout(conn: Conn): void {
  if (!conn.user) return;
  const set = users.get(conn.user);
  set?.delete(conn);
  if (set?.size === 0) users.delete(conn.user);
  conn.user = undefined;
}

function onFrame(conn: Conn, text: string): void {
  // deno-lint-ignore no-explicit-any
  let req: any;
  try {
    req = JSON.parse(text);
  } catch {
    return reply(conn, "", "", { error: "malformed" });
  }
  const { seq, cmd } = req;
  const d = req.data ?? {};
  switch (cmd) {
    case "login": {
      conn.user = String(d.userId);
      let set = users.get(conn.user);
      if (!set) users.set(conn.user, set = new Set());
      set.add(conn);
      return reply(conn, seq, cmd, { userId: conn.user });
    }
    case "logout":
      logout(conn);
      return reply(conn, seq, cmd, null);
    case "heartbeat":
      return reply(conn, seq, cmd, null);
    case "ping":
      return reply(conn, seq, cmd, "pong");
    case "sendMsg": {
      const time = Date.now();
      const msgId = `b${++pushSeq}`;
      const push = JSON.stringify({
        seq: msgId,
        cmd: "msg",
        response: {
          code: 200,
          codeMsg: "Ok",
          data: { target: "", type: "text", msg: d.msg, from: conn.user, time },
        },
      });
      toUser(String(d.to), push);
      return reply(conn, seq, cmd, { msgId, time });
    }
    case "joinRoom": {
      let set = rooms.get(d.room);
      if (!set) rooms.set(d.room, set = new Set());
      set.add(conn.user!);
      return reply(conn, seq, cmd, { room: d.room, members: set.size });
    }
    case "roomMsg": {
      const time = Date.now();
      const msgId = `b${++pushSeq}`;
      const push = JSON.stringify({
        seq: msgId,
        cmd: "msg",
        response: {
          code: 200,
          codeMsg: "Ok",
          data: { target: d.room, type: "text", msg: d.msg, from: conn.user, time },
        },
      });
      const members = rooms.get(d.room) ?? new Set();
      for (const m of members) toUser(m, push, conn);
      return reply(conn, seq, cmd, { msgId, time, members: members.size });
    }
    default:
      return reply(conn, seq, cmd, { error: "unknown cmd" });
  }
}

/** Start the baseline server on `port` (0 = free port) and `hostname`. */
export function startBaseline(port = 0, hostname = "127.0.0.1"): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname, port, onListen: () => {} }, (req) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("404\n", { status: 404 });
    }
    // The transport settings of imserver's defaults (heartbeat.idleTimeout 0: no ping timer per socket), so
    // the rows compare the servers, not Deno's idle timer (re-armed on every frame read).
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    const conn: Conn = { socket, user: undefined };
    socket.onmessage = (e) => typeof e.data === "string" && onFrame(conn, e.data);
    socket.onclose = () => logout(conn);
    socket.onerror = () => {};
    return response;
  });
}

if (import.meta.main) {
  const hostname = Deno.args.find((a) => a.startsWith("--hostname="))?.slice(11) ?? "127.0.0.1";
  const server = startBaseline(0, hostname);
  console.log(`baseline listening ws=${server.addr.port}`);
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
  Deno.exit(0);
}
