// POST /oauth/token: the client credentials grant (RFC 6749 §4.4) for SCIM clients such as
// Microsoft Entra ID's gallery apps. Answers follow §5.1 (success) and §5.2 (errors) exactly.
import express, { type Request, type Response } from 'express';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { AccessTokenService } from './access-tokens.js';
import { ACCESS_TOKEN_SCOPE } from './access-tokens.js';
import type { AuthFailureGuard } from './failures.js';
import { authenticateClient } from './oauth-clients.js';

export interface OAuthRouterOptions {
  db: Database;
  logger: Logger;
  accessTokens: AccessTokenService;
  /** Failed client authentication: limited per client address and tallied per window (src/auth/failures.ts). */
  authFailures: AuthFailureGuard;
}

type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope' | 'server_error' | 'temporarily_unavailable';

/** RFC 6749 §5.2: `{"error": ..., "error_description": ...}`, never cached. */
function sendOAuthError(res: Response, status: number, error: OAuthErrorCode, description: string) {
  res.status(status).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json({ error, error_description: description });
}

/**
 * RFC 6749 §2.3.1: HTTP Basic with client_id and secret, each form-urlencoded first; or both in
 * the body. Using both methods at once is an invalid_request (§2.3).
 */
function credentialsOf(req: Request): { clientId: string; secret: string; basic: boolean } | { error: string } | null {
  const header = req.get('authorization');
  const body = (req.body ?? {}) as Record<string, unknown>;
  const inBody = typeof body.client_id === 'string' || typeof body.client_secret === 'string';
  const basic = header?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i)?.[1];
  if (header && !basic) return { error: 'Only HTTP Basic client authentication is accepted in the Authorization header' };
  if (basic && inBody) return { error: 'Authenticate the client once: with HTTP Basic or with client_id and client_secret in the body, not both' };
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { error: 'The Basic credentials must be client_id:client_secret' };
    try {
      return { clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')), basic: true };
    } catch {
      return { error: 'The Basic credentials are not form-urlencoded (RFC 6749 §2.3.1)' };
    }
  }
  if (typeof body.client_id === 'string' && typeof body.client_secret === 'string') return { clientId: body.client_id, secret: body.client_secret, basic: false };
  return null;
}

export function createOAuthRouter({ db, logger, accessTokens, authFailures }: OAuthRouterOptions): express.Router {
  const router = express.Router();
  // §3.2: the token endpoint takes application/x-www-form-urlencoded; a small body is plenty.
  router.post('/token', express.urlencoded({ extended: false, limit: 4096 }), async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const credentials = credentialsOf(req);
    if (credentials && 'error' in credentials) return sendOAuthError(res, 400, 'invalid_request', credentials.error);
    if (!credentials) {
      res.set('WWW-Authenticate', 'Basic realm="jml-oauth"');
      return sendOAuthError(res, 401, 'invalid_client', 'Client authentication is required: HTTP Basic with client_id and client_secret');
    }
    if (body.grant_type === undefined) return sendOAuthError(res, 400, 'invalid_request', 'grant_type is required');
    if (body.grant_type !== 'client_credentials') {
      return sendOAuthError(res, 400, 'unsupported_grant_type', 'Only the client_credentials grant is supported');
    }
    // §3.3: the scope is a space-separated list; jml's only scope is "scim".
    if (typeof body.scope === 'string' && body.scope.trim() !== '' && body.scope.split(' ').some((scope) => scope !== ACCESS_TOKEN_SCOPE)) {
      return sendOAuthError(res, 400, 'invalid_scope', `The only scope is "${ACCESS_TOKEN_SCOPE}"`);
    }
    // An address that spent its failure budget gets no secret comparison (src/auth/failures.ts).
    const admission = authFailures.admit(req, credentials.secret);
    if (!admission.allowed) {
      authFailures.failed(req, 'oauth', 'too many failures from this address', { throttled: true });
      res.set('Retry-After', String(admission.retryAfterSeconds));
      return sendOAuthError(res, 429, 'invalid_client', `Too many failed authentications from this address: retry after ${admission.retryAfterSeconds} s`);
    }
    let client;
    try {
      client = await authenticateClient(db, credentials.clientId, credentials.secret);
    } catch (error) {
      authFailures.giveBack(req, admission);
      logger.error({ err: error }, 'OAuth client authentication failed');
      return sendOAuthError(res, 503, 'temporarily_unavailable', 'The identity store is temporarily unavailable; retry later');
    }
    if (!client) {
      // Counted like every other failed authentication (one audit row per window, realm "oauth").
      authFailures.failed(req, 'oauth', 'unknown client, or a revoked or wrong secret', { admission });
      // §5.2: a client that tried HTTP Basic gets 401 with the scheme it should use.
      if (credentials.basic) res.set('WWW-Authenticate', 'Basic realm="jml-oauth"');
      return sendOAuthError(res, 401, 'invalid_client', 'Unknown client, or a revoked or wrong secret');
    }
    authFailures.succeeded(credentials.secret);
    authFailures.giveBack(req, admission);
    try {
      const issued = await accessTokens.issue(client);
      // §5.1: token_type and expires_in, and never cached.
      res.status(200).set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' }).json({
        access_token: issued.accessToken,
        token_type: 'Bearer',
        expires_in: issued.expiresIn,
        scope: ACCESS_TOKEN_SCOPE,
      });
    } catch (error) {
      logger.error({ err: error }, 'could not issue an access token');
      sendOAuthError(res, 503, 'temporarily_unavailable', 'Could not issue a token; retry later');
    }
  });
  // §3.2: the token endpoint is POST only.
  router.all('/token', (_req, res) => sendOAuthError(res, 405, 'invalid_request', 'Use POST'));
  return router;
}
