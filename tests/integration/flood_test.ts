/**
 * The malformed-frame flood (issue 2, item 12): 10,000+ generated bad frames pipelined over ONE
 * real socket. Each frame's expected code is known, so every reply is checked exactly: JSON, the
 * envelope shape, the seq echoed when the frame had one, and the code.
 */
import assert from "node:assert/strict";
import { Code } from "../../src/protocol/codes.ts";
import { TestClient, withServer } from "../support/helpers.ts";

const FRAMES = 10_000;
const MAX_FRAME = 64 * 1024;
const WINDOW = 200;

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One frame and the code its reply must carry; `seq` is what the reply must echo. */
interface Case {
  text: string;
  code: number;
  seq: string;
}

/** Build `n` malformed frames: non-JSON, wrong types, unknown cmds, missing fields, deep nesting, long strings. */
function generate(n: number, seed: number): Case[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const junk = (len: number) =>
    Array.from({ length: len }, () => String.fromCharCode(32 + Math.floor(r() * 95))).join("");
  const nonObjects = [
    "1",
    "-0.5e10",
    '"str"',
    "null",
    "true",
    "false",
    "[]",
    '[{"seq":"a","cmd":"ping"}]',
    "[1,2,3]",
  ];
  const wrongValues = [1, -1, 1.5, true, false, [], ["x"], {}, { a: 1 }, null];
  const authCmds = [
    "heartbeat",
    "logout",
    "sendMsg",
    "joinRoom",
    "leaveRoom",
    "roomMsg",
    "roomMembers",
    "sync",
    "ack",
    "read",
    "history",
    "users",
    "refresh",
  ];
  const out: Case[] = [];
  for (let i = 0; i < n; i++) {
    const seq = `f${i}`;
    const kind = i < 30 ? i % 10 : Math.floor(r() * 10); // every kind appears early, whatever the seed
    switch (kind) {
      case 0: { // not JSON at all
        const text = pick([
          junk(1 + Math.floor(r() * 40)),
          "{",
          `{"seq":"${seq}",`,
          "nul",
          "{'seq':'x'}",
          "\u0000\u0001",
          "😀",
          "",
        ]);
        out.push({
          text: text === "" ? " " : text.startsWith('{"') ? text : `~${text}`,
          code: Code.ParameterIllegal,
          seq: "",
        });
        break;
      }
      case 1: // JSON, but not an object
        out.push({ text: pick(nonObjects), code: Code.ParameterIllegal, seq: "" });
        break;
      case 2: { // seq of the wrong type, or missing
        const v = pick([...wrongValues, undefined]);
        const frame: Record<string, unknown> = { cmd: pick(["ping", "login"]) };
        if (v !== undefined) frame.seq = v;
        out.push({ text: JSON.stringify(frame), code: Code.ParameterIllegal, seq: "" });
        break;
      }
      case 3: { // cmd of the wrong type or missing, data of the wrong type
        if (r() < 0.5) {
          const v = pick([...wrongValues, undefined]);
          out.push({ text: JSON.stringify({ seq, cmd: v }), code: Code.ParameterIllegal, seq });
        } else {
          const data = pick([[], "x", 5, true, [{ userId: "a" }]]);
          // Not ping: it takes any data (A.4). An unknown cmd is 1010 whatever its data.
          const cmd = pick(["login", "nope"]);
          const code = cmd === "nope" ? Code.RouteNotExist : Code.ParameterIllegal;
          out.push({ text: JSON.stringify({ seq, cmd, data }), code, seq });
        }
        break;
      }
      case 4: { // unknown commands, including prototype names and case variants
        const cmd = pick([
          "",
          "PING",
          "Login",
          "login ",
          "__proto__",
          "constructor",
          "toString",
          "hasOwnProperty",
          `x${i}`,
          junk(20),
        ]);
        out.push({
          text: JSON.stringify({ seq, cmd, data: { userId: "a", appId: 101 } }),
          code: Code.RouteNotExist,
          seq,
        });
        break;
      }
      case 5: // commands that need a login (this socket never logs in)
        out.push({
          text: JSON.stringify({ seq, cmd: pick(authCmds), data: { to: "b", msg: "x", room: "r" } }),
          code: Code.NotLoggedIn,
          seq,
        });
        break;
      case 6: { // login with missing or illegal fields
        const [data, code] = pick<[unknown, number]>([
          [{}, Code.UnauthorizedUserId],
          [{ appId: 101 }, Code.UnauthorizedUserId],
          [{ userId: "", appId: 101 }, Code.UnauthorizedUserId],
          [{ userId: "x".repeat(20), appId: 101 }, Code.UnauthorizedUserId],
          [{ userId: "a\nb", appId: 101 }, Code.UnauthorizedUserId],
          [{ userId: { $ne: null }, appId: 101 }, Code.ParameterIllegal],
          [{ userId: "a", appId: "abc" }, Code.ParameterIllegal],
          [{ userId: "a", appId: -5 }, Code.ParameterIllegal],
          [{ userId: "a", appId: 1e300 }, Code.ParameterIllegal],
          [{ userId: "a", appId: 101, deviceId: ["x"] }, Code.ParameterIllegal],
          [{ userId: "a", appId: 101, lastSeq: -1 }, Code.ParameterIllegal],
          [{ userId: "a", appId: 999 }, Code.Unauthorized],
          [{ userId: "a" }, Code.Unauthorized],
        ]);
        out.push({ text: JSON.stringify({ seq, cmd: "login", data }), code, seq });
        break;
      }
      case 7: { // deep nesting, top level or inside data
        const depth = 100 + Math.floor(r() * 5000);
        if (r() < 0.5) {
          out.push({ text: "[".repeat(depth) + "]".repeat(depth), code: Code.ParameterIllegal, seq: "" });
        } else {
          const deep = '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
          out.push({
            text: `{"seq":"${seq}","cmd":"login","data":{"userId":${deep},"appId":101}}`,
            code: Code.ParameterIllegal,
            seq,
          });
        }
        break;
      }
      case 8: { // long strings under the frame cap
        const len = 1000 + Math.floor(r() * (MAX_FRAME - 2000));
        const which = Math.floor(r() * 3);
        if (which === 0) {
          out.push({
            text: JSON.stringify({ seq, cmd: "login", data: { userId: "u".repeat(len), appId: 101 } }),
            code: Code.UnauthorizedUserId,
            seq,
          });
        } else if (which === 1) {
          out.push({ text: JSON.stringify({ seq, cmd: "c".repeat(len) }), code: Code.RouteNotExist, seq });
        } else {out.push({
            text: JSON.stringify({ seq: "s".repeat(len), cmd: 7 }),
            code: Code.ParameterIllegal,
            seq: "s".repeat(len),
          });}
        break;
      }
      default: { // prototype-pollution shaped keys and odd but valid JSON
        const text = pick([
          `{"seq":"${seq}","cmd":"login","data":{"__proto__":{"userId":"x"},"appId":101}}`,
          `{"seq":"${seq}","cmd":"login","data":{"constructor":{"prototype":{"userId":"x"}},"appId":101}}`,
          `{"seq":"${seq}","seq":5,"cmd":"ping"}`,
          `{"seq":"${seq}","cmd":"login","data":{"userId":"a","userID":"b","appId":101,"appID":"x","lastSeq":1.5}}`,
        ]);
        out.push({
          text,
          code: text.includes('"seq":5')
            ? Code.ParameterIllegal
            : text.includes("lastSeq")
            ? Code.ParameterIllegal
            : Code.UnauthorizedUserId,
          seq: text.includes('"seq":5') ? "" : seq,
        });
      }
    }
  }
  return out;
}

Deno.test("flood: 10,000 malformed frames on one socket each get the right JSON error", async () => {
  const limits = { messagesPerSecond: 1e9, messageBurst: 1e9, loginsPerIpPerMinute: 1e9 };
  await withServer({ limits, im: { maxFrameBytes: MAX_FRAME } }, async (server) => {
    const cases = generate(FRAMES, 20260101);
    for (const c of cases) {
      assert.ok(new TextEncoder().encode(c.text).length <= MAX_FRAME, "test setup: under the cap");
    }
    const socket = new WebSocket(`ws://127.0.0.1:${server.wsPort}/im`);
    const closed = new Promise<CloseEvent>((resolve) => socket.addEventListener("close", (e) => resolve(e)));
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error("connect failed"));
    });
    // Pipelined with a window: a client that never reads while the server answers is (rightly)
    // closed as a slow consumer (4004), so at most WINDOW frames are unanswered at any time.
    const replies: string[] = [];
    let wake: (() => void) | undefined;
    let closeEvent: CloseEvent | undefined;
    socket.onmessage = (e) => {
      replies.push(e.data as string);
      wake?.();
    };
    closed.then((e) => {
      closeEvent = e;
      wake?.();
    });
    const deadline = Date.now() + 60_000;
    const progress = async (until: () => boolean) => {
      while (!until()) {
        if (closeEvent) throw new Error(`socket closed ${closeEvent.code} after ${replies.length} replies`);
        if (Date.now() > deadline) throw new Error(`only ${replies.length}/${cases.length} replies`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, 1000);
        });
        clearTimeout(timer);
      }
    };
    for (let i = 0; i < cases.length; i++) {
      await progress(() => i - replies.length < WINDOW);
      socket.send(cases[i].text);
    }
    await progress(() => replies.length >= cases.length);

    // Match replies to frames: by seq where the frame had one, as a multiset of codes where it did not.
    const bySeq = new Map(cases.filter((c) => c.seq !== "").map((c) => [c.seq, c.code]));
    assert.equal(bySeq.size, cases.filter((c) => c.seq !== "").length, "test setup: seqs are unique");
    const anonymous = new Map<number, number>();
    for (const c of cases) if (c.seq === "") anonymous.set(c.code, (anonymous.get(c.code) ?? 0) + 1);
    const documented = new Set<number>(Object.values(Code));
    const seen = new Set<string>();
    for (const text of replies) {
      const frame = JSON.parse(text);
      assert.deepEqual(Object.keys(frame), ["seq", "cmd", "response"]);
      assert.equal(typeof frame.seq, "string");
      assert.equal(typeof frame.cmd, "string");
      const { code, codeMsg, data } = frame.response;
      assert.ok(documented.has(code), `undocumented code ${code}`);
      assert.notEqual(code, Code.ServerError, text.slice(0, 200));
      assert.notEqual(code, Code.Success, text.slice(0, 200));
      assert.equal(typeof codeMsg, "string");
      assert.equal(typeof data.error, "string");
      if (frame.seq !== "") {
        assert.ok(!seen.has(frame.seq), `two replies for ${frame.seq.slice(0, 20)}`);
        seen.add(frame.seq);
        assert.equal(code, bySeq.get(frame.seq), `frame ${frame.seq.slice(0, 20)}: ${text.slice(0, 200)}`);
      } else {
        const left = anonymous.get(code) ?? 0;
        assert.ok(left > 0, `unexpected seq-less reply ${text.slice(0, 200)}`);
        anonymous.set(code, left - 1);
      }
    }
    assert.equal(seen.size, bySeq.size);

    // The flooded socket is still served, and so is a new one.
    socket.send('{"seq":"after","cmd":"ping"}');
    const pong = await new Promise<string>((resolve) => socket.onmessage = (e) => resolve(e.data as string));
    assert.equal(JSON.parse(pong).response.data, "pong");
    const fresh = await TestClient.connect(server.wsPort);
    assert.equal((await fresh.login("survivor")).userId, "survivor");
    await fresh.close();
    socket.close();
    await closed;
  });
});
