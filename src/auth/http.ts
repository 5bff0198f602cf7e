// What every authenticated HTTP surface (SCIM, operator API, metrics, pages) does the same way:
// read the bearer token, refuse an address that spent its failure budget before looking the token
// up, and count a failure in memory (src/auth/failures.ts), never with a database write of its own.
import type { Request } from 'express';
import type { AuthFailureGuard } from './failures.js';
import type { Principal } from './tokens.js';

/** RFC 6750 §2.1: `Authorization: Bearer <token>`. */
export function bearerToken(req: Request): string | undefined {
  return bearerOf(req.get('authorization'));
}

/** The same, from the header itself (the HTTP server's front door has no express request yet). */
export function bearerOf(authorization: string | undefined): string | undefined {
  return authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

export type Authentication =
  | { outcome: 'authenticated'; principal: Principal }
  | { outcome: 'refused'; reason: string }
  /** The address spent its failure budget: answer 429 with Retry-After. */
  | { outcome: 'throttled'; retryAfterSeconds: number };

/**
 * Authenticates one request for one realm. `verify` may throw (database down): that propagates,
 * for the surface to answer 503. `refusedReason` names a failure in the audit tally.
 */
export async function authenticate(
  req: Request,
  input: { realm: string; token: string | undefined; guard: AuthFailureGuard; verify: (token: string) => Promise<Principal | null>; refusedReason: string },
): Promise<Authentication> {
  const { realm, token, guard } = input;
  const admission = guard.admit(req, token);
  if (!admission.allowed) {
    guard.failed(req, realm, 'too many failures from this address', { throttled: true });
    return { outcome: 'throttled', retryAfterSeconds: admission.retryAfterSeconds };
  }
  let principal: Principal | null = null;
  try {
    principal = token ? await input.verify(token) : null;
  } catch (error) {
    // Not the client's failure (the database is down): the attempt it was charged is returned.
    guard.giveBack(req, admission);
    throw error;
  }
  if (!token || !principal) {
    const reason = token ? input.refusedReason : 'no bearer token';
    guard.failed(req, realm, reason, { admission });
    return { outcome: 'refused', reason };
  }
  guard.succeeded(token);
  guard.giveBack(req, admission);
  return { outcome: 'authenticated', principal };
}

/** What a refusal for a spent failure budget says, wherever it is answered (here, or src/app.ts's front door). */
export const throttledDetail = (retryAfterSeconds: number) => `Too many failed authentications from this address: retry after ${retryAfterSeconds} s`;

/** What a JSON surface answers a request that did not authenticate. */
export interface Refusal {
  status: 401 | 429;
  headers: Record<string, string>;
  error: 'Unauthorized' | 'TooManyRequests';
  detail: string;
}

/**
 * 429 with Retry-After for an address past its failure budget; otherwise 401 with the realm's
 * Bearer challenge (RFC 6750 §3) and `howToGetOne`, the command that makes the token it needs.
 */
export function refusalOf(authentication: Exclude<Authentication, { outcome: 'authenticated' }>, input: { realm: string; howToGetOne: string }): Refusal {
  if (authentication.outcome === 'throttled') {
    const after = String(authentication.retryAfterSeconds);
    return { status: 429, headers: { 'Retry-After': after }, error: 'TooManyRequests', detail: throttledDetail(authentication.retryAfterSeconds) };
  }
  return { status: 401, headers: { 'WWW-Authenticate': `Bearer realm="${input.realm}"` }, error: 'Unauthorized', detail: input.howToGetOne };
}
