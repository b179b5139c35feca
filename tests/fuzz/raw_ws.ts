/**
 * A WebSocket client over a raw TCP socket: hand-made handshake and frames, so tests can do what
 * a WebSocket API never lets them do — never read (slow consumer), send invalid UTF-8 in text
 * frames, bad opcodes, unmasked or malformed frames.
 * @module
 */

/** A raw connection after a successful `101 Switching Protocols`. */
export interface RawWs {
  conn: Deno.TcpConn;
  /** Bytes already read past the handshake. */
  rest: Uint8Array;
}

/** Open TCP to 127.0.0.1:`port` and perform the upgrade handshake for `path`. */
export async function rawConnect(
  port: number,
  path = "/im",
  headers: Record<string, string> = {},
): Promise<RawWs> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
    await writeAll(conn, new TextEncoder().encode(request));
    let buf: Uint8Array = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (let i = 0; i < 64; i++) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("connection closed during handshake");
      buf = concat(buf, chunk.subarray(0, n));
      const text = new TextDecoder().decode(buf);
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      if (!text.startsWith("HTTP/1.1 101")) throw new Error(`handshake refused: ${text.split("\r\n")[0]}`);
      return { conn, rest: buf.subarray(new TextEncoder().encode(text.slice(0, end + 4)).length) };
    }
    throw new Error("handshake reply too long");
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Options of {@linkcode encodeFrame}. */
export interface FrameOptions {
  fin?: boolean;
  /** RSV1-3 bits (0–7); non-zero without an extension is a protocol error. */
  rsv?: number;
  /** Client frames must be masked; false makes a protocol error. */
  mask?: boolean;
}

/** Encode one WebSocket frame (opcode 1 text, 2 binary, 8 close, 9 ping, or anything invalid). */
export function encodeFrame(opcode: number, payload: Uint8Array, o: FrameOptions = {}): Uint8Array {
  const mask = o.mask ?? true;
  const len = payload.length;
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) & 7) << 4 | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 0xff);
  else {head.push(
      m | 127,
      0,
      0,
      0,
      0,
      (len >>> 24) & 0xff,
      (len >>> 16) & 0xff,
      (len >>> 8) & 0xff,
      len & 0xff,
    );}
  const key = mask ? crypto.getRandomValues(new Uint8Array(4)) : new Uint8Array(0);
  const body = new Uint8Array(len);
  for (let i = 0; i < len; i++) body[i] = mask ? payload[i] ^ key[i & 3] : payload[i];
  return concat(concat(new Uint8Array(head), key), body);
}

/** Write every byte (TCP writes may be partial). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Read until EOF or `timeoutMs`; returns the close code of the first server close frame seen
 * (undefined when the server just dropped the connection) and whether the server ended the
 * connection (false = we gave up at the timeout).
 */
export async function readUntilClosed(
  ws: RawWs,
  timeoutMs: number,
): Promise<{ closeCode: number | undefined; eof: boolean; bytes: number }> {
  const first = scanForClose(ws.rest);
  let buf = first.rest;
  let closeCode = first.closeCode;
  const chunk = new Uint8Array(65536);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      ws.conn.close();
    } catch {
      // closed already
    }
  }, timeoutMs);
  let eof = false;
  let bytes = ws.rest.length;
  // Answer the server's close like a real client, so it can end the TCP connection at once.
  const ack = () => writeAll(ws.conn, encodeFrame(8, new Uint8Array([3, 232]))).catch(() => {});
  try {
    if (closeCode !== undefined) await ack();
    for (;;) {
      const n = await ws.conn.read(chunk).catch(() => null);
      if (n === null) {
        eof = !timedOut;
        break;
      }
      bytes += n;
      if (closeCode === undefined) {
        buf = concat(buf, chunk.subarray(0, n));
        const parsed = scanForClose(buf);
        buf = parsed.rest;
        closeCode = parsed.closeCode;
        if (closeCode !== undefined) await ack();
      }
    }
  } finally {
    clearTimeout(timer);
    try {
      ws.conn.close();
    } catch {
      // closed by the timer or the peer
    }
  }
  return { closeCode, eof, bytes };
}

/** Skip whole server frames; return the close code of a close frame if one is complete. */
function scanForClose(buf: Uint8Array): { closeCode: number | undefined; rest: Uint8Array } {
  let off = 0;
  while (buf.length - off >= 2) {
    const opcode = buf[off] & 0x0f;
    let len = buf[off + 1] & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = (buf[off + 2] << 8) | buf[off + 3];
      head = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      len = new DataView(buf.buffer, buf.byteOffset + off + 2, 8).getUint32(4);
      head = 10;
    }
    if (buf.length - off < head + len) break;
    if (opcode === 8) {
      const code = len >= 2 ? (buf[off + head] << 8) | buf[off + head + 1] : 1005;
      return { closeCode: code, rest: new Uint8Array(0) };
    }
    off += head + len;
  }
  return { closeCode: undefined, rest: buf.slice(off) };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
