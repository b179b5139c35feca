/**
 * Raw TCP helpers for the connection-guard tests: open a socket, write bytes, and read until the
 * server closes it — or until a hard limit, after which the test's own side closes it.
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What {@linkcode readUntilClosed} saw. */
export interface Closed {
  /** True when the server ended the connection (EOF or reset) before the limit. */
  byServer: boolean;
  /** Milliseconds from the call until the end. */
  ms: number;
  /** Everything read. */
  text: string;
}

/** Connect to 127.0.0.1:`port`, optionally writing `text` at once. */
export async function connectRaw(port: number, text?: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (text) await writeText(conn, text);
  return conn;
}

/** Write all of `text`. */
export async function writeText(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/**
 * Read until the server closes (EOF or reset) or `limitMs` passes; the connection is closed on
 * return either way. `until` stops early once the text read so far satisfies it (the connection
 * is then left open and `byServer` is false).
 */
export async function readUntilClosed(
  conn: Deno.Conn,
  limitMs: number,
  until?: (text: string) => boolean,
): Promise<Closed> {
  const start = performance.now();
  let text = "";
  let byServer = false;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch {
      // closed already
    }
  }, limitMs);
  const buf = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) {
        byServer = true;
        break;
      }
      text += decoder.decode(buf.subarray(0, n));
      if (until?.(text)) {
        clearTimeout(timer);
        return { byServer: false, ms: performance.now() - start, text };
      }
    }
  } catch {
    byServer = !timedOut; // a reset by the server, or our own close at the limit
  }
  clearTimeout(timer);
  if (!timedOut) {
    try {
      conn.close();
    } catch {
      // closed already
    }
  }
  return { byServer, ms: performance.now() - start, text };
}

/** Split a raw HTTP/1.1 response into status, lower-cased headers and body. */
export function parseResponse(text: string): { status: number; headers: Map<string, string>; body: string } {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return {
    status: Number(statusLine.split(" ")[1] ?? 0),
    headers,
    body: end < 0 ? "" : text.slice(end + 4),
  };
}
