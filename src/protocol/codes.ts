/**
 * Result and close codes (PROTOCOL.md A.3, B.3): one definition in `src/web/codes.js`, shared with
 * the browser client, re-exported here with their types.
 *
 * @example
 * ```ts
 * import { Code, codeMessage } from "./codes.ts";
 * codeMessage(Code.NotLoggedIn); // "Not logged in"
 * ```
 * @module
 */
import { CloseCode, Code, CODE_MESSAGES } from "../web/codes.js";

export { CloseCode, Code };

/** English text of a code (`codeMsg`); unknown codes say "Unknown". */
export function codeMessage(code: number): string {
  return (CODE_MESSAGES as Record<number, string>)[code] ?? "Unknown";
}
