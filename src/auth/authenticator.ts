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
import type { Authenticator, Credentials, Principal } from "./principal.ts";

export type { Authenticator, Credentials, Principal } from "./principal.ts";

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
