/**
 * HTTP parameters: query string merged with a form or JSON body, key spellings normalised.
 *
 * @example
 * ```ts
 * const { data, spellings } = await readParams(request, 256 * 1024);
 * data.appId; // "101" (query/form values are strings; JSON keeps its types)
 * spellings?.has("userID"); // true when the caller wrote userID (replies echo that spelling)
 * ```
 * @module
 */
import { Code } from "../protocol/codes.ts";
import { isPlainObject, normaliseKeys } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";
import { assertWellFormed } from "../protocol/validate.ts";

/**
 * The body did not arrive within `http.bodyTimeout`: answered with HTTP 408 (compat endpoints
 * too: the request is incomplete) and `connection: close`, because the rest of the body may
 * still be on its way.
 */
export class BodyTimeoutError extends ReplyError {
  constructor(timeoutMs: number) {
    super(Code.ParameterIllegal, `request body not received within ${timeoutMs / 1000} s`);
    this.name = "BodyTimeoutError";
  }

  /** The 408 reply: the API envelope `{code: 1001, msg, data: null}`. */
  response(headers: Record<string, string> = {}): Response {
    return new Response(JSON.stringify({ code: this.code, msg: this.message, data: null }), {
      status: 408,
      headers: { ...headers, "content-type": "application/json; charset=utf-8", connection: "close" },
    });
  }
}

/** Parameters with canonical key names, and the alias spellings (`userID`...) the caller used. */
export interface ReadParams {
  data: Record<string, unknown>;
  spellings?: ReadonlySet<string>;
}

/**
 * Read query + body parameters; throws ReplyError(1001) for bodies that are not what we take and
 * {@linkcode BodyTimeoutError} when the body is not complete within `bodyTimeoutMs` (0 = no
 * limit; the body stream is cancelled).
 */
export async function readParams(
  req: Request,
  maxBodyBytes: number,
  bodyTimeoutMs = 0,
): Promise<ReadParams> {
  const url = new URL(req.url);
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  if (req.method === "GET" || req.method === "HEAD" || !req.body) return normaliseKeys(params);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBodyBytes) throw new ReplyError(Code.ParameterIllegal, `body over ${maxBodyBytes} bytes`);
  const text = await readBody(req.body, maxBodyBytes, bodyTimeoutMs);
  if (text.trim() === "") return normaliseKeys(params);
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  // fetch() labels a string body text/plain: a JSON-looking text body is JSON, as with no type.
  const untyped = type === "" || type === "text/plain";
  if (type === "application/json" || (untyped && /^\s*[{[]/.test(text))) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ReplyError(Code.ParameterIllegal, "body is not valid JSON");
    }
    if (!isPlainObject(body)) throw new ReplyError(Code.ParameterIllegal, "JSON body must be an object");
    assertWellFormed(text, body);
    return normaliseKeys({ ...params, ...body });
  }
  if (type === "application/x-www-form-urlencoded" || type === "" || type === "text/plain") {
    return normaliseKeys({ ...params, ...Object.fromEntries(new URLSearchParams(text)) });
  }
  if (type === "multipart/form-data") {
    const form = await new Request(req.url, {
      method: "POST",
      headers: req.headers,
      body: text,
    }).formData().catch(() => {
      throw new ReplyError(Code.ParameterIllegal, "malformed multipart body");
    });
    for (const [k, v] of form) if (typeof v === "string") params[k] = v;
    return normaliseKeys(params);
  }
  throw new ReplyError(Code.ParameterIllegal, `unsupported content-type ${type}`);
}

async function readBody(body: ReadableStream<Uint8Array>, max: number, timeoutMs: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  // One timer for the whole body (not per chunk): 1 byte every few seconds must not keep it open.
  const deadline = timeoutMs > 0
    ? new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new BodyTimeoutError(timeoutMs)), timeoutMs)
    )
    : undefined;
  try {
    for (;;) {
      const { done, value } = deadline ? await Promise.race([reader.read(), deadline]) : await reader.read();
      if (done) break;
      size += value.length;
      if (size > max) throw new ReplyError(Code.ParameterIllegal, `body over ${max} bytes`);
      chunks.push(value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(all);
  } catch {
    throw new ReplyError(Code.ParameterIllegal, "body is not valid UTF-8");
  }
}
