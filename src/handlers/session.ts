/**
 * Session commands: login, logout, heartbeat, ping (PROTOCOL.md A.4, B.1).
 * @module
 */
import type { Client } from "../client.ts";
import type { ServerContext } from "../context.ts";
import { ImError } from "../errors.ts";
import { Code, echoKey, encodeReply, type Request } from "../protocol.ts";
import { REPLIED, type Router } from "../router.ts";
import { replayInBackground } from "../sync.ts";
import { appIdField, intField, stringField, userIdField } from "../validate.ts";

/** Register the session commands on `router`. */
export function addSessionRoutes(router: Router): void {
  router
    .add("login", login)
    .add("heartbeat", heartbeat, { auth: true })
    .add("ping", () => "pong")
    .add("logout", logout, { auth: true })
    .add("refresh", refresh, { auth: true });
}

async function login(ctx: ServerContext, client: Client, req: Request): Promise<typeof REPLIED> {
  const d = req.data;
  const { config } = ctx;
  // Counted before any parsing, so malformed logins cannot be used to guess tokens for free.
  ctx.limits?.checkLogin(client.ip);
  const token = stringField(d, "token", 16 * 1024, { optional: true });
  const userId = d.userId === undefined && token ? "" : userIdField(d, "userId", config.im.maxUserIdBytes);
  const appId = appIdField(d, "appId", true) ?? 0;
  if (client.identity || loggingIn.has(client)) {
    throw new ImError(Code.OperationFailure, "already logged in on this connection");
  }
  if (ctx.draining) throw new ImError(Code.Unavailable, "server is draining; reconnect elsewhere");
  // Reconnect-storm shaping per node (drain.loginsPerSecond): 1023 + jittered retryMs, socket stays open.
  ctx.loginShaper?.admit();
  const lastSeq = intField(d, "lastSeq", { optional: true });
  const epoch = stringField(d, "epoch", 64, { optional: true });
  const deviceId = stringField(d, "deviceId", 64, { optional: true });
  const platform = stringField(d, "platform", 32, { optional: true });

  loggingIn.add(client);
  try {
    return await completeLogin(ctx, client, req, {
      userId,
      appId,
      token,
      lastSeq,
      epoch,
      deviceId,
      platform,
    });
  } finally {
    loggingIn.delete(client);
  }
}

/** Connections with a login in progress (a second concurrent login gets 1009). */
const loggingIn = new WeakSet<Client>();

interface LoginFields {
  userId: string;
  appId: number;
  token?: string;
  lastSeq?: number;
  epoch?: string;
  deviceId?: string;
  platform?: string;
}

async function completeLogin(
  ctx: ServerContext,
  client: Client,
  req: Request,
  f: LoginFields,
): Promise<typeof REPLIED> {
  const { config } = ctx;
  const d = req.data;
  const { token, lastSeq, epoch, deviceId, platform } = f;
  const principal = await ctx.auth.authenticate({ userId: f.userId || undefined, appId: f.appId, token });
  const { userId, appId } = principal;
  const allowed = config.im.appIds;
  if (allowed.length > 0 && !allowed.includes(appId)) {
    ctx.counters.logins.inc({ result: "app_refused" });
    throw new ImError(Code.Unauthorized, `appId ${appId} is not allowed`);
  }

  const head = await ctx.store.head(appId, userId, config.inbox.maxAge * 1000);
  const reset = lastSeq !== undefined &&
    ((epoch !== undefined && epoch !== head.epoch) || lastSeq > head.lastSeq);
  // Registered for live delivery before the replay reads the store; live entries queue meanwhile.
  client.cursor = lastSeq === undefined ? head.lastSeq : reset ? 0 : lastSeq;
  client.replaying = true;
  client.pending = [];
  client.expiresAt = principal.expiresAt;
  client.heartbeatAt = ctx.clock.now();
  try {
    await ctx.manager.login(client, { userId, appId, deviceId, platform, loginTime: ctx.clock.now() });
  } catch (error) {
    client.replaying = false;
    throw error;
  }
  ctx.counters.logins.inc({ result: "ok" });
  ctx.log.info("login {connId} {userId} {appId} {ip}", { connId: client.id, userId, appId, ip: client.ip });
  client.send(encodeReply(req.seq, req.cmd, Code.Success, {
    [echoKey(d, "userId")]: userId,
    [echoKey(d, "appId")]: appId,
    connId: client.id,
    nodeId: ctx.nodeId,
    serverTime: ctx.clock.now(),
    heartbeatInterval: config.heartbeat.interval,
    inboxSeq: head.lastSeq,
    firstSeq: head.firstSeq,
    inboxEpoch: head.epoch,
    ackedSeq: await ctx.store.mark(appId, userId, "ack"),
    resumeFrom: client.cursor,
    ...(reset ? { inboxReset: true } : {}),
    ...(Number.isFinite(principal.expiresAt) ? { expiresAt: principal.expiresAt } : {}),
  }));
  replayInBackground(ctx, client);
  return REPLIED;
}

function heartbeat(ctx: ServerContext, client: Client): null {
  client.heartbeatAt = ctx.clock.now();
  return null;
}

async function logout(ctx: ServerContext, client: Client): Promise<null> {
  await ctx.manager.logout(client);
  client.heartbeatAt = ctx.clock.now(); // the login deadline (heartbeat.loginTimeout) starts again
  client.replaying = false;
  client.pending = [];
  client.expiresAt = Infinity;
  return null;
}

/**
 * `refresh {token}`: a new token for the same userId/appId extends the connection's life
 * (auth.mode: jwt). The reply carries the new `expiresAt` (null when it does not expire).
 */
async function refresh(ctx: ServerContext, client: Client, req: Request) {
  const token = stringField(req.data, "token", 16 * 1024)!;
  const { userId, appId } = client.identity!;
  const principal = await ctx.auth.authenticate({ userId, appId, token });
  // Re-check after the await: the connection may have logged out or closed meanwhile.
  if (!client.identity || principal.userId !== userId || principal.appId !== appId) {
    throw new ImError(Code.Unauthorized, "token is for another user or app");
  }
  client.expiresAt = principal.expiresAt;
  return { expiresAt: Number.isFinite(principal.expiresAt) ? principal.expiresAt : null };
}
