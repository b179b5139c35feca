/**
 * Who a login claims to be and who it is once verified: the types every authenticator shares
 * (auth/authenticator.ts picks one by `auth.mode`).
 *
 * @example
 * ```ts
 * const who: Principal = await auth.authenticate({ userId: "alice", appId: 101 });
 * ```
 * @module
 */

/** What a login claims. */
export interface Credentials {
  userId?: string;
  appId?: number;
  token?: string;
}

/** Who the login is, once verified. */
export interface Principal {
  userId: string;
  appId: number;
  /** When the credentials stop being valid (ms since epoch); Infinity when they do not expire. */
  expiresAt: number;
}

/** Verifies login credentials; throws ReplyError(1003/1014) when refused. */
export interface Authenticator {
  readonly mode: string;
  authenticate(credentials: Credentials): Promise<Principal>;
}
