/**
 * The login deadline check (`heartbeat.loginTimeout`): which connections the sweep closes.
 * @module
 */
import assert from "node:assert/strict";
import { closeForLoginTimeout, overdueLogins } from "../../src/session/login_deadline.ts";

const conn = (name: string, connectedAt: number, heartbeatAt = connectedAt, identity?: object) => ({
  name,
  connectedAt,
  heartbeatAt,
  identity,
});

Deno.test("login deadline: only connections not logged in for the whole timeout are overdue", () => {
  const now = 100_000;
  const clients = [
    conn("never logged in, old", now - 30_000),
    conn("never logged in, young", now - 29_999),
    conn("logged in, old", now - 600_000, now - 500_000, { userId: "a" }),
    conn("logged out just now", now - 600_000, now - 1_000),
    conn("logged out long ago", now - 600_000, now - 31_000),
  ];
  assert.deepEqual(
    overdueLogins(clients, now, 30_000).map((c) => c.name),
    ["never logged in, old", "logged out long ago"],
  );
});

Deno.test("login deadline: a login being applied is not overdue; once it failed, the first deadline holds", () => {
  const now = 100_000;
  const applying = { ...conn("sent its login in time, still applying", now - 60_000), loggingIn: true };
  assert.deepEqual(overdueLogins([applying], now, 30_000), []);
  assert.deepEqual(overdueLogins([{ ...applying, loggingIn: false }], now, 30_000).map((c) => c.name), [
    "sent its login in time, still applying",
  ]);
});

Deno.test("login deadline: a timeout of 0 disables the check", () => {
  assert.deepEqual(overdueLogins([conn("old", 0)], 1e9, 0), []);
});

Deno.test("login deadline: closing uses 4009 and forgets the connection", () => {
  const calls: unknown[] = [];
  closeForLoginTimeout({ close: (code, reason) => calls.push(code, reason) }, () => calls.push("forget"));
  assert.equal(calls[0], 4009);
  assert.match(String(calls[1]), /login/);
  assert.equal(calls[2], "forget");
});
