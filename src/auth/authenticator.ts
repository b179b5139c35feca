/**
 * Login authentication. `auth.mode: none` trusts the client's userId (the Go servers'
 * behaviour); `jwt` verifies a token (see jwt.ts).
 *
 * @example
 * ```ts
 * const auth = await createAuthenticator(config);
 * const who = await auth.authenticate({ userId: "alice", appId: 101 });
 * ```
 * @module
 */
import type { Config } from "../config/load.ts";

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

/** Trusts the client (auth.mode: none); userId/appId were validated by the login handler. */
export class TrustingAuthenticator implements Authenticator {
  readonly mode = "none";
  authenticate(c: Credentials): Promise<Principal> {
    return Promise.resolve({ userId: c.userId ?? "", appId: c.appId ?? 0, expiresAt: Infinity });
  }
}

/** The authenticator for `config.auth.mode`. */
export async function createAuthenticator(config: Config): Promise<Authenticator> {
  if (config.auth.mode === "none") return new TrustingAuthenticator();
  const { JwtAuthenticator } = await import("./jwt.ts");
  return await JwtAuthenticator.create(config);
}
