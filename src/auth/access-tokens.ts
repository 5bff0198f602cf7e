// Short-lived access tokens for OAuth clients: JWTs in the profile of RFC 9068, signed with a key
// every API replica shares (kept in the database, created on first use). A token names the
// client and the secret it was issued for; verification checks that secret is still live, so
// revoking a secret or client ends its tokens at once, not at expiry.
import { randomBytes, randomUUID } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { Database } from '../db/client.js';
import type { ClientProfile } from '../scim/dialect/profiles.js';
import type { AuthenticatedClient } from './oauth-clients.js';
import { liveSecret } from './oauth-clients.js';
import type { Principal } from './tokens.js';

/** RFC 9068 §2.1: the media type of a JWT access token, in its `typ` header. */
const ACCESS_TOKEN_TYPE = 'at+jwt';
export const ACCESS_TOKEN_AUDIENCE = 'jml-scim';
export const ACCESS_TOKEN_SCOPE = 'scim';
const ISSUER = 'jml';
/** Entra and most clients fetch a new token when the old one expires; an hour bounds a leaked one. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 3600;

export interface AccessTokenServiceOptions {
  db: Database;
  ttlSeconds?: number;
  /** The clock, for tests of expiry. */
  now?: () => Date;
}

export interface IssuedAccessToken {
  accessToken: string;
  expiresIn: number;
}

/** A string that is shaped like a JWT (three base64url parts), as opposed to a jml bearer token. */
export function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);
}

export function createAccessTokenService({ db, ttlSeconds = DEFAULT_ACCESS_TOKEN_TTL_SECONDS, now = () => new Date() }: AccessTokenServiceOptions) {
  let key: Promise<Uint8Array> | undefined;

  async function loadKey(): Promise<Uint8Array> {
    // Two replicas starting at once both insert; the primary key keeps the first, and both read it.
    await db.oAuthSigningKey.createMany({ data: [{ id: 1, secret: randomBytes(32).toString('base64url') }], skipDuplicates: true });
    const row = await db.oAuthSigningKey.findUniqueOrThrow({ where: { id: 1 } });
    return new Uint8Array(Buffer.from(row.secret, 'base64url'));
  }

  function signingKey(): Promise<Uint8Array> {
    key ??= loadKey().catch((error: unknown) => {
      key = undefined;
      throw error;
    });
    return key;
  }

  async function issue(client: AuthenticatedClient): Promise<IssuedAccessToken> {
    const issuedAt = Math.floor(now().getTime() / 1000);
    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; sub is the client itself (no user).
    const accessToken = await new SignJWT({ client_id: client.clientId, scope: ACCESS_TOKEN_SCOPE, jml_profile: client.profile, jml_sid: client.secretId })
      .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE })
      .setIssuer(ISSUER)
      .setAudience(ACCESS_TOKEN_AUDIENCE)
      .setSubject(client.clientId)
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + ttlSeconds)
      .setJti(randomUUID())
      .sign(await signingKey());
    return { accessToken, expiresIn: ttlSeconds };
  }

  /** The SCIM principal of a valid access token; null when it is not one, expired or revoked. */
  async function verify(token: string): Promise<Principal | null> {
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, await signingKey(), {
        algorithms: ['HS256'],
        typ: ACCESS_TOKEN_TYPE,
        issuer: ISSUER,
        audience: ACCESS_TOKEN_AUDIENCE,
        currentDate: now(),
        requiredClaims: ['exp', 'iat', 'jti', 'client_id'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return null;
      throw error;
    }
    if (typeof claims.jml_sid !== 'string' || typeof claims.client_id !== 'string') return null;
    const secret = await liveSecret(db, claims.jml_sid);
    if (!secret || secret.clientId !== claims.client_id) return null;
    const profile: ClientProfile = secret.profile;
    return { tokenId: claims.jml_sid, name: secret.name, kind: 'scim', profile };
  }

  return { issue, verify };
}

export type AccessTokenService = ReturnType<typeof createAccessTokenService>;
