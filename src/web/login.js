// No `// @ts-check` pragma: type-checked with the DOM lib by tests/browser/web_client_test.ts.
/**
 * The sign-in form: where the WebSocket is (`/web/config.json`), the connection attempt with its
 * progress ("Cannot reach the server — retrying…", Cancel) and a refused login's code.
 */
import { ImClient, ImRequestError } from "./client.js";

/**
 * @typedef {{wsUrl?: string | null, wsPort: number, wsPath: string, authMode: string, editWindow?: number,
 *   recallWindow?: number}} WebConfig
 */

const $ = (/** @type {string} */ id) => /** @type {any} */ (document.getElementById(id));

/** The WebSocket URL: `app.webSocketUrl` when set, else this host on the bound WebSocket port. @param {WebConfig} config */
export function wsUrl(config) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  if (!config.wsUrl) return `${scheme}://${location.hostname}:${config.wsPort}${config.wsPath}`;
  return config.wsUrl.includes("://") ? config.wsUrl : `${scheme}://${config.wsUrl}${config.wsPath}`;
}

/**
 * The login form's line while the first connection is being retried.
 * @param {{attempt: number, delayMs: number}} retry
 * @param {Error | null} lastError the failed login of this attempt, if it got that far
 */
function retryText({ attempt, delayMs }, lastError) {
  const next = `attempt ${attempt}, next in ${Math.max(1, Math.round(delayMs / 1000))} s`;
  if (lastError instanceof ImRequestError && lastError.code !== 0) {
    return `Server busy (${lastError.code}: ${lastError.message}) — retrying… (${next})`;
  }
  return `Cannot reach the server — retrying… (${next})`;
}

/** @param {unknown} error why connect() failed @param {{code: number, reason: string} | null} lastClose */
function loginErrorText(error, lastClose) {
  const e = /** @type {Error} */ (error);
  if (e instanceof ImRequestError && e.code !== 0) return `Login failed (${e.code}): ${e.message}`;
  if (lastClose) {
    const reason = lastClose.reason ? `: ${lastClose.reason}` : "";
    return `Login failed: connection closed (${lastClose.code}${reason})`;
  }
  return `Login failed: ${e.message}`;
}

/**
 * @typedef {object} SessionHost the chat page, as the login form drives it
 * @property {(client: ImClient, userId: string, windows: {editMs: number, recallMs: number}) => void} attach
 *   before connect(): listen to the client; `windows` say how long own messages may be edited and recalled
 * @property {() => void} detach the attempt was cancelled or refused
 * @property {(userId: string, appId: number) => void} show logged in: show the chat
 * @property {(close: {code: number, reason: string}) => void} ended the session closed for good
 */

export class LoginForm {
  /** @param {WebConfig} config @param {SessionHost} host */
  constructor(config, host) {
    this.config = config;
    this.host = host;
    /** The client of the attempt under way or the session. @type {ImClient | null} */
    this.client = null;
    $("login-token-row").hidden = config.authMode !== "jwt";
    const params = new URLSearchParams(location.search);
    const last = JSON.parse(sessionStorage.getItem("imserver-last") ?? "{}");
    // Only where the user has not typed yet (the form is usable before this script has run).
    const fill = (/** @type {string} */ id, /** @type {string | undefined} */ value) => {
      const input = $(id);
      if (value !== undefined && input.value === input.defaultValue) input.value = value;
    };
    fill("login-app", params.get("appId") ?? last.appId);
    fill("login-user", params.get("userId") ?? last.userId);
    $("login-form").addEventListener("submit", (/** @type {SubmitEvent} */ e) => {
      e.preventDefault();
      this.login();
    });
    $("login-cancel").addEventListener("click", () => this.cancel());
  }

  /** Lock the form while a connection attempt runs (Cancel shown), or unlock it. @param {boolean} busy */
  #busy(busy) {
    for (const id of ["login-user", "login-app", "login-token", "login-submit"]) $(id).disabled = busy;
    $("login-cancel").hidden = !busy;
    if (!busy) $("login-status").textContent = "";
  }

  async login() {
    if (this.client) return; // an attempt is under way: Cancel stops it
    $("login-error").textContent = "";
    const userId = $("login-user").value.trim();
    const appId = Number($("login-app").value);
    const client = new ImClient({
      url: wsUrl(this.config),
      userId,
      appId,
      token: $("login-token").value.trim() || undefined,
      fullResume: true, // a new browser shows the recent inbox, not an empty page
    });
    this.client = client;
    this.#busy(true);
    $("login-status").textContent = "Connecting…";
    /** @type {{code: number, reason: string} | null} */
    let lastClose = null;
    /** @type {Error | null} */
    let lastError = null;
    client.on("closed", (d) => lastClose = d);
    client.on("error", (e) => lastError = e);
    client.on("state", (state) => {
      if (state === "connecting") lastError = null;
      // A terminal close (kicked, token expired, login refused on reconnect) ends the session.
      if (state === "closed" && lastClose && $("login-view").hidden) this.host.ended(lastClose);
    });
    client.on("retry", (r) => {
      if (this.client === client && !$("login-view").hidden) {
        $("login-status").textContent = retryText(r, lastError);
      }
    });
    const { editWindow = 86400, recallWindow = 120 } = this.config;
    this.host.attach(client, userId, { editMs: editWindow * 1000, recallMs: recallWindow * 1000 });
    try {
      await client.connect();
    } catch (error) {
      if (this.client !== client) return; // cancelled
      this.client = null;
      this.host.detach();
      client.close();
      this.#busy(false);
      $("login-error").textContent = loginErrorText(error, lastClose);
      return;
    }
    if (this.client !== client) return;
    this.#busy(false);
    sessionStorage.setItem("imserver-last", JSON.stringify({ userId, appId }));
    $("login-view").hidden = true;
    this.host.show(userId, appId);
  }

  /** Stop a connection attempt that has not logged in yet; the form is editable again. */
  cancel() {
    const client = this.client;
    this.client = null;
    this.host.detach();
    this.#busy(false);
    client?.close();
    $("login-user").focus();
  }
}
