/**
 * Seeded generators of hostile frames for the fuzzer (reproducible with `--seed`).
 * @module
 */

const COMMANDS = [
  "login",
  "logout",
  "heartbeat",
  "ping",
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
  "",
  "LOGIN",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
];
const FIELDS = [
  "userId",
  "userID",
  "appId",
  "appID",
  "token",
  "to",
  "msg",
  "type",
  "room",
  "clientMsgId",
  "since",
  "seq",
  "lastSeq",
  "epoch",
  "deviceId",
  "platform",
  "peer",
  "before",
  "limit",
  "msgId",
  "__proto__",
  "constructor",
];
/** The user ids valid frames use (exported so a JWT run can sign a token for each). */
export const USERS = ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"];
const ROOMS = ["r0", "r1", "r2", "lobby"];

/** A seeded PRNG (mulberry32) with helpers that build frames. */
export class Gen {
  #state: number;
  /** `user:appId` → signed token, when the server runs with auth.mode jwt. */
  readonly tokens: ReadonlyMap<string, string> | undefined;
  constructor(seed: number, tokens?: ReadonlyMap<string, string>) {
    this.#state = seed >>> 0;
    this.tokens = tokens;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** Random text of `n` UTF-16 units: ASCII, controls, astral halves, lone surrogates. */
  text(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) {
      const k = this.next();
      s += k < 0.6
        ? String.fromCharCode(this.int(32, 126))
        : k < 0.7
        ? String.fromCharCode(this.int(0, 31))
        : k < 0.8
        ? String.fromCharCode(this.int(0xd800, 0xdfff))
        : String.fromCharCode(this.int(0x80, 0xffff));
    }
    return s;
  }

  /** A value of any JSON type, often of the wrong type for the field it lands in. */
  value(depth = 0): unknown {
    switch (this.int(0, 15)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.pick([0, -1, 1, 101, 102, 999, 2 ** 31, 2 ** 53 + 1, -0, 1.5, 1e308, -1e308]);
      case 3:
        return this.pick(["", " ", "0", "101", "-1", "1e3", "NaN", "null", "true", "[]", "{}"]);
      case 4:
        return this.text(this.int(0, 40));
      case 5:
        return "x".repeat(this.int(18, 25));
      case 6:
        return this.pick(USERS);
      case 7:
        return this.pick(ROOMS);
      case 8:
        return depth > 3 ? [] : Array.from({ length: this.int(0, 4) }, () => this.value(depth + 1));
      case 9:
        return depth > 3 ? {} : this.data(depth + 1);
      case 10:
        return this.int(0, 1_000_000);
      case 11:
        return "\u0000\ud800\udfff\ufffe";
      case 12:
        return this.pick([101, 102, 103, 104]);
      default:
        return this.text(this.int(0, 8));
    }
  }

  /** A `data` object with random known fields and values. */
  data(depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = this.int(0, 5); i > 0; i--) {
      Object.defineProperty(out, this.pick(FIELDS), {
        value: this.value(depth),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  /** A well-formed request that reaches deep code paths. */
  valid(): string {
    const seq = `v${this.int(0, 1e6)}`;
    const user = this.pick(USERS);
    const room = this.pick(ROOMS);
    const cmd = this.pick(
      [
        "login",
        "login",
        "sendMsg",
        "joinRoom",
        "roomMsg",
        "sync",
        "history",
        "ack",
        "users",
        "logout",
        "refresh",
      ] as const,
    );
    const app = this.pick([101, 102]);
    const token = this.tokens?.get(`${user}:${app}`);
    const data: Record<string, unknown> = {
      login: {
        userId: token && this.chance(0.7) ? undefined : user,
        appId: token && this.chance(0.7) ? undefined : app,
        token,
        lastSeq: this.chance(0.3) ? this.int(0, 60) : undefined,
      },
      refresh: { token: token ?? this.text(20) },
      sendMsg: { to: user, msg: this.text(this.int(0, 64)), clientMsgId: this.chance(0.5) ? seq : undefined },
      joinRoom: { room },
      roomMsg: { room, msg: this.text(this.int(0, 64)) },
      sync: { since: this.int(0, 60) },
      history: this.chance(0.5)
        ? { peer: user, limit: this.int(0, 120) }
        : { room, before: this.int(0, 100) },
      ack: { seq: this.int(0, 80) },
      users: {},
      logout: {},
    }[cmd];
    return JSON.stringify({ seq, cmd, data });
  }

  /** A frame that does not close the connection (text, ≤ the frame cap). */
  frame(): string {
    const k = this.next();
    if (k < 0.3) return this.valid();
    if (k < 0.55) {
      const env: Record<string, unknown> = {
        seq: this.chance(0.85) ? `f${this.int(0, 1e6)}` : this.value(),
        cmd: this.chance(0.85) ? this.pick(COMMANDS) : this.value(),
      };
      if (this.chance(0.9)) env.data = this.chance(0.8) ? this.data() : this.value();
      return JSON.stringify(env);
    }
    if (k < 0.7) return this.mutate(this.valid());
    if (k < 0.78) return this.deep();
    if (k < 0.83) return this.huge();
    if (k < 0.9) return JSON.stringify(this.value());
    if (k < 0.95) return this.text(this.int(0, 200));
    return this.pick([
      '{"seq":"p","cmd":"login","data":{"__proto__":{"userId":"admin","appId":101}}}',
      '{"seq":"p","cmd":"sendMsg","data":{"constructor":{"prototype":{"x":1}},"to":"u1","msg":"x"}}',
      '{"seq":"p","cmd":"login","data":{"userId":"a","userID":"b","appId":101,"appID":"x"}}',
      '{"seq":"p","cmd":"login","data":null}',
      '{"seq":"p","cmd":"login"}',
      '{"seq":1,"cmd":"login"}',
      '{"seq":"p","cmd":"ping","data":[]}',
      '{"seq":"p","seq":"q","cmd":"ping"}',
      "[]",
      "null",
      '""',
      "",
    ]);
  }

  /** Deep nesting in data, at the root or in a string-typed field. */
  deep(): string {
    // Sized to stay under the 64 KiB frame cap: these must be parsed, not refused for size.
    const n = this.int(100, 9_000);
    const kind = this.int(0, 2);
    if (kind === 0) {
      return `{"seq":"d","cmd":"sendMsg","data":{"to":"u1","msg":${"[".repeat(n)}${"]".repeat(n)}}}`;
    }
    if (kind === 1) return `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;
    return `{"seq":"d","cmd":"login","data":${"[".repeat(n)}`;
  }

  /** Large strings near (but within) the 64 KiB frame cap. */
  huge(): string {
    // [char, UTF-8 bytes once JSON-encoded]: the frame must stay under the 64 KiB cap.
    const [unit, cost] = this.pick([["a", 1], ["é", 2], ["😀", 4], ["\u0000", 6]] as const);
    const s = unit.repeat(this.int(1_000, Math.floor(60_000 / cost)));
    const field = this.pick(["msg", "userId", "room", "token", "type", "clientMsgId"]);
    return JSON.stringify({
      seq: "h",
      cmd: this.pick(["sendMsg", "login", "roomMsg", "joinRoom"]),
      data: { [field]: s, to: "u1" },
    });
  }

  /** Flip, insert, delete or truncate characters of a frame. */
  mutate(s: string): string {
    const chars = [...s];
    for (let i = this.int(1, 6); i > 0 && chars.length > 0; i--) {
      const at = this.int(0, chars.length - 1);
      switch (this.int(0, 3)) {
        case 0:
          chars[at] = this.pick(['"', "{", "}", "[", "]", ":", ",", "\\", "0", "-", "e", "\u0000"]);
          break;
        case 1:
          chars.splice(at, 0, this.text(this.int(1, 4)));
          break;
        case 2:
          chars.splice(at, 1);
          break;
        default:
          chars.length = at;
      }
    }
    return chars.join("");
  }

  /** Sometimes a frame that must close the socket: binary (invalid UTF-8) or over the size cap. */
  closingFrame(): string | Uint8Array | undefined {
    const k = this.next();
    if (k < 0.02) {
      const bytes = new Uint8Array(this.int(1, 256));
      for (let i = 0; i < bytes.length; i++) bytes[i] = this.int(0, 255);
      bytes[0] = 0xc3;
      if (bytes.length > 1) bytes[1] = 0x28; // invalid continuation byte
      return bytes;
    }
    if (k < 0.03) {
      return JSON.stringify({ seq: "big", cmd: "sendMsg", data: { to: "u1", msg: "z".repeat(70_000) } });
    }
    return undefined;
  }
}
