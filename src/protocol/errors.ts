/**
 * The three kinds of failure, kept apart because they end differently:
 * - {@linkcode ReplyError}: the request is answered with a code; the connection stays.
 * - {@linkcode Disconnect}: the connection must end (optionally after one last reply).
 * - {@linkcode StorageError}: a store could not do its work; mapped at the edge (router, HTTP) to a
 *   generic `1024` with a retry hint, with the details in the log, never in the reply.
 *
 * @example
 * ```ts
 * throw new ReplyError(Code.UnauthorizedUserId, "userId too long");
 * throw new Disconnect(CloseCode.LoginRateLimited, "too many logins", { reply: { code: 1023 }, retryMs: 900 });
 * ```
 * @module
 */

/** Options of {@linkcode ReplyError}. */
export interface ReplyErrorOptions {
  /** Retry hint (ms), sent as `data.retryMs`. */
  retryMs?: number;
  /** Extra reply data. */
  data?: Record<string, unknown>;
  /** HTTP status on `/api/v1` when it is not the code's usual one (e.g. 403 for a key of the wrong kind). */
  status?: number;
}

/** A request answered with a protocol code (PROTOCOL.md A.3/B.3). */
export class ReplyError extends Error {
  /** Protocol code, e.g. 1001. */
  readonly code: number;
  readonly retryMs: number | undefined;
  readonly data: Record<string, unknown> | undefined;
  /** HTTP status that overrides the code's usual one (http/app.ts), if any. */
  readonly status: number | undefined;

  /** `code` and a human-readable `message` (sent to the client as `data.error`). */
  constructor(code: number, message: string, options: ReplyErrorOptions = {}) {
    super(message);
    this.name = "ReplyError";
    this.code = code;
    this.retryMs = options.retryMs;
    this.data = options.data;
    this.status = options.status;
  }
}

/** Options of {@linkcode Disconnect}. */
export interface DisconnectOptions {
  /** A last reply to send before closing (its code and optional data). */
  reply?: { code: number; data?: Record<string, unknown> };
  /** Retry hint (ms): in the reply's `data.retryMs` and appended to the close reason. */
  retryMs?: number;
}

/** The connection must close with `closeCode` (docs/PROTOCOL.md section 4). */
export class Disconnect extends Error {
  readonly closeCode: number;
  readonly reply: DisconnectOptions["reply"];
  readonly retryMs: number | undefined;

  /** `reason` becomes the close reason (and `data.error` of the last reply). */
  constructor(closeCode: number, reason: string, options: DisconnectOptions = {}) {
    super(reason);
    this.name = "Disconnect";
    this.closeCode = closeCode;
    this.reply = options.reply;
    this.retryMs = options.retryMs;
  }

  /** The close reason with the retry hint, as clients that only see the close read it. */
  get closeReason(): string {
    return this.retryMs === undefined ? this.message : `${this.message}; retry in ${this.retryMs} ms`;
  }
}

/** A store operation failed (Redis unreachable, disk full, I/O error). */
export class StorageError extends Error {
  /** The store operation, for logs and metrics. */
  readonly op: string;

  /** `op` names the operation; `cause` is the underlying error (logged, never sent to clients). */
  constructor(op: string, cause: unknown) {
    super(`storage operation ${op} failed: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "StorageError";
    this.op = op;
  }
}

/** How long clients are told to wait before retrying after a storage error (ms). */
export const STORAGE_RETRY_MS = 1000;

/** The message clients get for a {@linkcode StorageError}: nothing about the store's internals. */
export const STORAGE_UNAVAILABLE = "storage unavailable; retry later";
