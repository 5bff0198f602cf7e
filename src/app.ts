// The HTTP surface: health (the one unauthenticated route), metrics, SCIM, the operator API and pages, and
// whatever else the process serves (the simulators in demo mode).
import { randomUUID } from 'node:crypto';
import express, { type RequestHandler, type Router } from 'express';
import { createOperatorRouter, type OperatorApiOptions } from './api/router.js';
import { createOAuthRouter, type OAuthRouterOptions } from './auth/oauth-route.js';
import type { Database } from './db/client.js';
import { createMetricsHandler, type MetricsRouteOptions } from './metrics/route.js';
import { createScimRouter, type ScimRouterOptions } from './scim/router.js';
import { createUiRouter, type UiOptions } from './ui/router.js';
import { logUnexplainedFailure } from './http-failures.js';
import { createHrWebhookRouter, type HrWebhookOptions } from './hr/webhook.js';

export interface AppOptions {
  db: Database;
  /** JML_TRUST_PROXY: the proxies whose X-Forwarded-For/-Proto are believed (default: none). */
  trustProxy?: number | string[] | false;
  scim: ScimRouterOptions;
  /** The operator API under /api; not served without it. */
  operator?: OperatorApiOptions;
  /** The HR webhook at /api/hr/events (an hr token, and signed with JML_HR_WEBHOOK_SECRET); not served without the secret. */
  hrWebhook?: HrWebhookOptions;
  /** The operator web pages under /ui; not served without it. */
  ui?: UiOptions;
  /** The OAuth 2.0 token endpoint at /oauth/token (client credentials); not served without it. */
  oauth?: OAuthRouterOptions;
  /** Prometheus metrics at /metrics; not served without it. */
  metrics?: MetricsRouteOptions;
  /** Extra routers mounted by path, e.g. the simulators under /sim in demo mode. */
  mounts?: { path: string; router: Router }[];
}

/** The one unauthenticated route: is this process up and can it reach the database? */
function healthHandler(db: Database): RequestHandler {
  return async (_req, res) => {
    try {
      await db.$queryRaw`SELECT 1`;
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', detail: 'database unreachable' });
    }
  };
}

/** A worker-only process serves its health check and nothing else. */
export function createHealthApp(db: Database): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/health', healthHandler(db));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}

/**
 * Every response carries an X-Request-Id: the caller's, when it is a short plain token (a proxy's
 * or a client's correlation id), else a fresh UUID. Logs of a failed request name the same id.
 */
export const requestId: RequestHandler = (req, res, next) => {
  const offered = req.get('x-request-id');
  const id = offered && /^[A-Za-z0-9._:-]{1,128}$/.test(offered) ? offered : randomUUID();
  res.locals.requestId = id;
  res.set('X-Request-Id', id);
  res.once('finish', () => logUnexplainedFailure(req, res));
  next();
};

export function createApp(options: AppOptions): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Without a trusted proxy req.ip is the socket's peer and req.secure the socket's own TLS: a
  // forwarded header from anyone else must not choose the address a failure budget is kept for.
  app.set('trust proxy', options.trustProxy ?? false);
  app.use(requestId);

  app.get('/health', healthHandler(options.db));

  if (options.metrics) app.get('/metrics', createMetricsHandler(options.metrics));
  if (options.oauth) app.use('/oauth', createOAuthRouter(options.oauth));
  app.use('/scim/v2', createScimRouter(options.scim));
  // Before the operator API: the webhook reads its body raw, to check the signature over it.
  if (options.hrWebhook) app.use('/api/hr', createHrWebhookRouter(options.hrWebhook));
  if (options.operator) app.use('/api', createOperatorRouter(options.operator));
  if (options.ui) app.use('/ui', createUiRouter(options.ui));
  for (const mount of options.mounts ?? []) app.use(mount.path, mount.router);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}
