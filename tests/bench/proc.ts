/**
 * Process helpers for the benchmark: child processes that talk JSON lines over stdio, and
 * Linux /proc readings (RSS, CPU time) of any pid.
 * @module
 */

/** A child process speaking one JSON object per line on stdin/stdout. */
export class LineProcess {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  readonly #waiters: Array<{ match: (m: Json) => boolean; resolve: (m: Json) => void }> = [];
  readonly #queue: Json[] = [];
  /** Called for every message no waiter claimed (events, progress). */
  onEvent: ((m: Json) => void) | undefined;
  readonly done: Promise<void>;

  constructor(name: string, command: string, args: string[]) {
    this.name = name;
    this.child = new Deno.Command(command, { args, stdin: "piped", stdout: "piped", stderr: "inherit" })
      .spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#lines = readLines(this.child.stdout)[Symbol.asyncIterator]();
    this.done = this.#pump();
  }

  /** The pid of the child. */
  get pid(): number {
    return this.child.pid;
  }

  async #pump(): Promise<void> {
    for (;;) {
      const { value, done } = await this.#lines.next();
      if (done) break;
      let msg: Json;
      try {
        msg = JSON.parse(value);
      } catch {
        console.error(`[${this.name}] ${value}`);
        continue;
      }
      const i = this.#waiters.findIndex((w) => w.match(msg));
      if (i >= 0) this.#waiters.splice(i, 1)[0].resolve(msg);
      else if (this.onEvent) this.onEvent(msg);
      else this.#queue.push(msg);
    }
    for (const w of this.#waiters.splice(0)) w.resolve({ error: `${this.name} exited` });
  }

  /** Send one message. */
  async send(msg: Json): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(msg) + "\n"));
  }

  /** Wait (bounded) for the first message matching `match`. */
  wait(match: (m: Json) => boolean, timeoutMs: number, what: string): Promise<Json> {
    const i = this.#queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.#queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const j = this.#waiters.indexOf(waiter);
        if (j >= 0) this.#waiters.splice(j, 1);
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (m: Json) => {
          clearTimeout(timer);
          if (m?.error) reject(new Error(`${this.name}: ${m.error}`));
          else resolve(m);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Send `{id, op, ...}` and wait for the reply with the same id. */
  async call(op: string, args: Json, timeoutMs: number): Promise<Json> {
    const id = ++callId;
    const reply = this.wait((m) => m.id === id, timeoutMs, op);
    await this.send({ id, op, ...args });
    return reply;
  }

  /** Close stdin, wait (bounded) for exit, then kill by pid. */
  async stop(timeoutMs = 5000): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }, timeoutMs);
    await this.child.status;
    clearTimeout(timer);
    await this.done;
  }
}

let callId = 0;

// Messages between runner and loaders are plain JSON objects of many shapes.
// deno-lint-ignore no-explicit-any
export type Json = any;

/** Split a byte stream into text lines. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

/**
 * Read a /proc file. Deno only lets `--allow-all` programs read /proc directly, so this runs
 * `cat` (`--allow-run=cat`): a few calls per measured phase, never in a hot loop.
 */
export function readProc(path: string): string {
  const out = new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" }).outputSync();
  if (!out.success) throw new Error(`cannot read ${path}`);
  return new TextDecoder().decode(out.stdout);
}

/** Resident set size of `pid` in bytes (0 when unreadable). */
export function rssBytes(pid: number): number {
  try {
    const status = readProc(`/proc/${pid}/status`);
    const m = status.match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux x86_64

/** User+system CPU seconds consumed by `pid` so far (0 when unreadable). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readProc(`/proc/${pid}/stat`);
    // Fields after the ")" of the command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** CPU use of several pids over a window, as % of one core each. */
export class CpuMeter {
  readonly #start: Map<number, number>;
  readonly #t0 = performance.now();
  constructor(readonly pids: number[]) {
    this.#start = new Map(pids.map((p) => [p, cpuSeconds(p)]));
  }
  /** CPU seconds used by each pid since construction. */
  seconds(): number[] {
    return this.pids.map((p) => cpuSeconds(p) - this.#start.get(p)!);
  }
  /** % of one core used by each pid since construction. */
  read(): number[] {
    const wall = (performance.now() - this.#t0) / 1000;
    return this.pids.map((p) =>
      wall > 0 ? Math.round((cpuSeconds(p) - this.#start.get(p)!) / wall * 100) : 0
    );
  }
}

/** Machine facts for the result file. */
export function machineInfo(): Json {
  const mem = Deno.systemMemoryInfo();
  let cpuModel = "";
  try {
    cpuModel = readProc("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "";
  } catch {
    // not Linux
  }
  return {
    cores: navigator.hardwareConcurrency,
    cpuModel,
    memoryBytes: mem.total,
    loadavg: Deno.loadavg(),
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}
