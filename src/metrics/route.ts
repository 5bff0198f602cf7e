// GET /metrics for Prometheus. Like every route but /health it needs a credential: an operator
// token, or JML_METRICS_TOKEN, which opens this route only (a scraper needs no operator powers).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { auditAuthenticationFailure, bearerToken } from '../auth/http.js';
import type { TokenVerifier } from '../auth/tokens.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { toScimError } from '../scim/errors.js';
import type { LifecycleMetrics } from './lifecycle-metrics.js';

export interface MetricsRouteOptions {
  db: Database;
  metrics: LifecycleMetrics;
  verifyToken: TokenVerifier;
  /** JML_METRICS_TOKEN, accepted besides operator tokens. */
  metricsToken?: string;
  logger: Logger;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

export function createMetricsHandler({ db, metrics, verifyToken, metricsToken, logger }: MetricsRouteOptions): RequestHandler {
  // Compared by hash: equal lengths for timingSafeEqual, and the time says nothing about the token.
  const metricsTokenHash = metricsToken ? sha256(metricsToken) : undefined;

  async function authorised(token: string | undefined): Promise<boolean> {
    if (!token) return false;
    if (metricsTokenHash && timingSafeEqual(sha256(token), metricsTokenHash)) return true;
    return (await verifyToken(token, 'operator')) !== null;
  }

  async function refuse(req: Request, res: Response, token: string | undefined) {
    await auditAuthenticationFailure(db, logger, req, 'metrics', token ? 'unknown, revoked or non-operator token' : 'no bearer token');
    res.set('WWW-Authenticate', 'Bearer realm="jml-metrics"');
    res.status(401).type('text/plain').send('A bearer token is required: JML_METRICS_TOKEN or an operator token (`npx jml tokens create --name prometheus --operator`)\n');
  }

  return async (req, res) => {
    const token = bearerToken(req);
    try {
      if (!(await authorised(token))) return await refuse(req, res, token);
      const text = await metrics.render();
      res.set('Cache-Control', 'no-store').type(metrics.registry.contentType).send(text);
    } catch (error) {
      const unavailable = toScimError(error).status === 503;
      logger[unavailable ? 'warn' : 'error']({ err: error }, 'metrics: scrape failed');
      res.status(unavailable ? 503 : 500).type('text/plain').send(unavailable ? 'The database is temporarily unavailable\n' : 'Internal error; the server log has the details\n');
    }
  };
}
