// No `// @ts-check` pragma on purpose: the project-wide `deno check` has no DOM lib (adding one
// would change global types for every file). tests/browser/web_client_test.ts type-checks the page
// (this file and every module it imports) with `checkJs` and the DOM lib instead.
/**
 * The chat page's entry point: reads where the WebSocket is, then hands the sign-in form and the
 * chat to their modules. The page is split by concern:
 *
 * | module       | what                                                                |
 * | ------------ | ------------------------------------------------------------------- |
 * | `login.js`   | the sign-in form and the connection attempt                         |
 * | `chat.js`    | the signed-in page: pushes into the model, the model into the views |
 * | `model.js`   | conversations, lines, unread counts, receipts, edits, typing        |
 * | `outbox.js`  | own sends, their retry                                              |
 * | `actions.js` | new chats, rooms, members, block, message actions                   |
 * | `rooms.js`   | room membership and join/leave lines                                |
 * | `view.js`, `sidebar.js`, `composer.js`, `notices.js`, `format.js` | the views          |
 *
 * Message text and names are only ever assigned with textContent (never innerHTML).
 */
import { ChatPage } from "./chat.js";
import { LoginForm } from "./login.js";

async function init() {
  /** @type {import("./login.js").WebConfig} */
  let config = { wsPort: 8089, wsPath: "/im", authMode: "none" };
  try {
    config = await (await fetch("/web/config.json")).json();
  } catch {
    // defaults: same host, port 8089
  }
  new LoginForm(config, new ChatPage());
}

init();
