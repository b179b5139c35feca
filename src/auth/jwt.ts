/**
 * JWT login authentication (`auth.mode: jwt`), verified with `jose`.
 *
 * Key sources, first one set wins: `auth.secret` (HS256/384/512), `auth.publicKey` (PEM text or a
 * file path; RS256/ES256 and their larger variants), `auth.jwksUrl` (http(s) URL fetched and cached
 * by jose, or a local JWKS file). The token's `sub` is the userId, the claim named by
 * `auth.appClaim` the appId; `exp`/`nbf` are checked with `auth.clockSkew` seconds of tolerance,
 * `iss`/`aud` when configured.
 *
 * @example
 * ```ts
 * const auth = await JwtAuthenticator.create(config);
 * const who = await auth.authenticate({ token });
 * who.userId; // the token's sub
 * ```
 * @module
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  importSPKI,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyGetKey,
} from "jose";
import type { Authenticator, Credentials, Principal } from "./principal.ts";
import { type Config, ConfigError } from "../config/load.ts";
import { ReplyError } from "../protocol/errors.ts";
import { Code } from "../protocol/codes.ts";

type KeyInput = Uint8Array | JWTVerifyGetKey;

const HMAC_ALGS = ["HS256", "HS384", "HS512"];
const PUBLIC_ALGS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
];

/** Verifies `login {token}` and `refresh {token}` (PROTOCOL.md B.1). */
export class JwtAuthenticator implements Authenticator {
  readonly mode = "jwt";
  readonly #key: KeyInput;
  readonly #algorithms: string[];
  readonly #auth: Config["auth"];
  readonly #now: () => number;

  private constructor(key: KeyInput, algorithms: string[], auth: Config["auth"], now: () => number) {
    this.#key = key;
    this.#algorithms = algorithms;
    this.#auth = auth;
    this.#now = now;
  }

  /**
   * Build from `config.auth`; throws {@linkcode ConfigError} when no usable key is configured.
   * `now` (ms) lets tests move time; defaults to the wall clock.
   */
  static async create(config: Config, now: () => number = Date.now): Promise<JwtAuthenticator> {
    const auth = config.auth;
    if (auth.secret) {
      return new JwtAuthenticator(new TextEncoder().encode(auth.secret), HMAC_ALGS, auth, now);
    }
    if (auth.publicKey) {
      const pem = auth.publicKey.includes("-----BEGIN")
        ? auth.publicKey
        : await readText(auth.publicKey, "auth.publicKey");
      return new JwtAuthenticator(pemKeyGetter(pem), PUBLIC_ALGS, auth, now);
    }
    if (auth.jwksUrl) {
      const source = auth.jwksUrl;
      const getKey = /^https?:\/\//i.test(source)
        ? createRemoteJWKSet(new URL(source))
        : createLocalJWKSet(parseJwks(await readText(source, "auth.jwksUrl")));
      return new JwtAuthenticator(getKey as JWTVerifyGetKey, PUBLIC_ALGS, auth, now);
    }
    throw new ConfigError("auth.mode: jwt needs auth.secret, auth.publicKey or auth.jwksUrl");
  }

  /**
   * Verify the token; the login's userId/appId, when given, must match the token's.
   * Throws ReplyError 1003 (invalid or mismatched) or 1014 (expired).
   */
  async authenticate(c: Credentials): Promise<Principal> {
    if (!c.token) throw new ReplyError(Code.Unauthorized, "token required (auth.mode is jwt)");
    const payload = await this.#verify(c.token);
    const userId = payload.sub;
    if (typeof userId !== "string" || userId === "") {
      throw new ReplyError(Code.Unauthorized, "token has no sub");
    }
    if (c.userId && c.userId !== userId) {
      throw new ReplyError(Code.Unauthorized, "userId does not match the token");
    }
    const appId = claimAppId(payload[this.#auth.appClaim]);
    if (appId === undefined) {
      throw new ReplyError(Code.Unauthorized, `token has no valid "${this.#auth.appClaim}" claim`);
    }
    if (c.appId && c.appId !== appId) {
      throw new ReplyError(Code.Unauthorized, "appId does not match the token");
    }
    // The skew that let the token in also lets it live that much longer while connected.
    const expiresAt = typeof payload.exp === "number"
      ? payload.exp * 1000 + this.#auth.clockSkew * 1000
      : Infinity;
    return { userId, appId, expiresAt };
  }

  async #verify(token: string): Promise<JWTPayload> {
    const { issuer, audience, clockSkew } = this.#auth;
    try {
      const { payload } = await jwtVerify(token, this.#key as Uint8Array, {
        algorithms: this.#algorithms,
        clockTolerance: clockSkew,
        currentDate: new Date(this.#now()),
        ...(issuer ? { issuer } : {}),
        ...(audience ? { audience } : {}),
      });
      return payload;
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw new ReplyError(Code.TokenExpired, "token expired");
      // Never echo the token or jose's detail (it can quote claims); the class name is enough.
      const why = error instanceof errors.JOSEError ? error.code : "ERR_JWT_INVALID";
      throw new ReplyError(Code.Unauthorized, `invalid token (${why})`);
    }
  }
}

/** The appId from a claim: a positive integer or a decimal string of one. */
function claimAppId(value: unknown): number | undefined {
  const n = typeof value === "string" && /^\d{1,9}$/.test(value) ? Number(value) : value;
  return typeof n === "number" && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** A key getter that imports the PEM once per algorithm the tokens name (RS* vs ES* keys). */
function pemKeyGetter(pem: string): JWTVerifyGetKey {
  const cache = new Map<string, Promise<CryptoKey>>();
  return (header) => {
    const alg = header.alg ?? "";
    let key = cache.get(alg);
    if (!key) {
      key = importSPKI(pem, alg);
      // A wrong algorithm for this key must fail the token, not poison the cache.
      key.catch(() => cache.delete(alg));
      cache.set(alg, key);
    }
    return key;
  };
}

function parseJwks(text: string): Parameters<typeof createLocalJWKSet>[0] {
  try {
    const jwks = JSON.parse(text);
    if (!Array.isArray(jwks?.keys)) throw new Error("no keys array");
    return jwks;
  } catch (error) {
    throw new ConfigError(`auth.jwksUrl: not a JWKS document (${(error as Error).message})`);
  }
}

async function readText(path: string, key: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`${key}: cannot read ${path}: ${(error as Error).message}`);
  }
}
