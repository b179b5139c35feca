/**
 * The one error type of the server: carries a protocol code, and optionally the request
 * envelope it answers and a WebSocket close code when the connection must end.
 *
 * @example
 * ```ts
 * throw new ImError(1002, "userId too long");
 * ```
 * @module
 */

/** Extra context of an {@linkcode ImError}. */
export interface ImErrorOptions {
  /** The request `seq` to echo (when parsing got that far). */
  seq?: string;
  /** The request `cmd` to echo. */
  cmd?: string;
  /** Close the connection with this WebSocket close code after replying. */
  closeCode?: number;
  /** Retry hint in milliseconds, sent in the reply data and the close reason. */
  retryMs?: number;
  /** Extra reply data. */
  data?: Record<string, unknown>;
}

/** An error with a protocol code (PROTOCOL.md A.3/B.3). */
export class ImError extends Error {
  /** Protocol code, e.g. 1001. */
  readonly code: number;
  /** Context: seq/cmd to echo, close code, retry hint. */
  readonly options: ImErrorOptions;

  /** Create an error with `code` and a human-readable `message`. */
  constructor(code: number, message: string, options: ImErrorOptions = {}) {
    super(message);
    this.name = "ImError";
    this.code = code;
    this.options = options;
  }
}
