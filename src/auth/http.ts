// What every authenticated HTTP surface (SCIM, operator API, metrics, pages) does the same way:
// read the bearer token, refuse an address that spent its failure budget before looking the token
// up, and count a failure in memory (src/auth/failures.ts), never with a database write of its own.
import type { Request } from 'express';
import type { AuthFailureGuard } from './failures.js';
import type { Principal } from './tokens.js';

/** RFC 6750 §2.1: `Authorization: Bearer <token>`. */
export function bearerToken(req: Request): string | undefined {
  return req.get('authorization')?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
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
  const principal = token ? await input.verify(token) : null;
  if (!token || !principal) {
    const reason = token ? input.refusedReason : 'no bearer token';
    guard.failed(req, realm, reason);
    return { outcome: 'refused', reason };
  }
  guard.succeeded(token);
  return { outcome: 'authenticated', principal };
}
