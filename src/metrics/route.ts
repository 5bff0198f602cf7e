// GET /metrics for Prometheus. Like every route but /health it needs a credential: a token whose
// role may read metrics (auditor), or JML_METRICS_TOKEN, which opens this route only.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { authenticate, bearerToken } from '../auth/http.js';
import type { AuthFailureGuard } from '../auth/failures.js';
import { can, forbiddenDetail } from '../auth/roles.js';
import type { Principal, TokenVerifier } from '../auth/tokens.js';
import type { Logger } from '../logger.js';
import { toScimError } from '../scim/errors.js';
import type { LifecycleMetrics } from './lifecycle-metrics.js';

export interface MetricsRouteOptions {
  metrics: LifecycleMetrics;
  verifyToken: TokenVerifier;
  /** Failed authentication: limited per client address and tallied per window (src/auth/failures.ts). */
  authFailures: AuthFailureGuard;
  /** JML_METRICS_TOKEN, accepted besides operator tokens. */
  metricsToken?: string;
  logger: Logger;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

export function createMetricsHandler({ metrics, verifyToken, metricsToken, logger, authFailures }: MetricsRouteOptions): RequestHandler {
  // Compared by hash: equal lengths for timingSafeEqual, and the time says nothing about the token.
  const metricsTokenHash = metricsToken ? sha256(metricsToken) : undefined;
  const scraper: Principal = { tokenId: 'env', name: 'JML_METRICS_TOKEN', kind: 'auditor' };

  async function verify(token: string): Promise<Principal | null> {
    if (metricsTokenHash && timingSafeEqual(sha256(token), metricsTokenHash)) return scraper;
    return verifyToken(token);
  }

  return async (req, res) => {
    try {
      const authentication = await authenticate(req, { realm: 'metrics', token: bearerToken(req), guard: authFailures, verify, refusedReason: 'unknown or revoked token' });
      if (authentication.outcome === 'throttled') {
        res.set('Retry-After', String(authentication.retryAfterSeconds));
        res.status(429).type('text/plain').send(`Too many failed authentications from this address: retry after ${authentication.retryAfterSeconds} s\n`);
        return;
      }
      if (authentication.outcome === 'refused') {
        res.set('WWW-Authenticate', 'Bearer realm="jml-metrics"');
        res.status(401).type('text/plain').send('A bearer token is required: JML_METRICS_TOKEN or an auditor token (`npx jml tokens create --name prometheus --role auditor`)\n');
        return;
      }
      if (!can(authentication.principal, 'readMetrics')) {
        res.status(403).type('text/plain').send(`${forbiddenDetail(authentication.principal, 'readMetrics')}\n`);
        return;
      }
      const text = await metrics.render();
      res.set('Cache-Control', 'no-store').type(metrics.registry.contentType).send(text);
    } catch (error) {
      const unavailable = toScimError(error).status === 503;
      logger[unavailable ? 'warn' : 'error']({ err: error }, 'metrics: scrape failed');
      res.status(unavailable ? 503 : 500).type('text/plain').send(unavailable ? 'The database is temporarily unavailable\n' : 'Internal error; the server log has the details\n');
    }
  };
}
