/**
 * HTTP parameters: query string merged with a form or JSON body, key spellings normalised.
 *
 * @example
 * ```ts
 * const params = await readParams(request, 256 * 1024);
 * params.appId; // "101" (query/form values are strings; JSON keeps its types)
 * ```
 * @module
 */
import { Code } from "../protocol/codes.ts";
import { isPlainObject, normaliseKeys } from "../protocol/envelope.ts";
import { ReplyError } from "../protocol/errors.ts";

/** Read query + body parameters; throws ReplyError(1001) for bodies that are not what we take. */
export async function readParams(req: Request, maxBodyBytes: number): Promise<Record<string, unknown>> {
  const url = new URL(req.url);
  const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
  if (req.method === "GET" || req.method === "HEAD" || !req.body) return normaliseKeys(params).data;
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBodyBytes) throw new ReplyError(Code.ParameterIllegal, `body over ${maxBodyBytes} bytes`);
  const text = await readBody(req.body, maxBodyBytes);
  if (text.trim() === "") return normaliseKeys(params).data;
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
    return normaliseKeys({ ...params, ...body }).data;
  }
  if (type === "application/x-www-form-urlencoded" || type === "" || type === "text/plain") {
    return normaliseKeys({ ...params, ...Object.fromEntries(new URLSearchParams(text)) }).data;
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
    return normaliseKeys(params).data;
  }
  throw new ReplyError(Code.ParameterIllegal, `unsupported content-type ${type}`);
}

async function readBody(body: ReadableStream<Uint8Array>, max: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw new ReplyError(Code.ParameterIllegal, `body over ${max} bytes`);
    chunks.push(chunk);
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
