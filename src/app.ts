// The HTTP surface: health (the one unauthenticated route), metrics, SCIM, the operator API and pages, and
// whatever else the process serves (the simulators in demo mode).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type RequestHandler, type Router } from 'express';
import type { AuthFailureGuard } from './auth/failures.js';
import { bearerOf, throttledDetail } from './auth/http.js';
import { errorBody } from './scim/errors.js';
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

/** What the front door writes to a spent address: built once per Retry-After value (RFC 6585 §4). */
interface PreparedRefusal {
  /** Flat name, value list, as `writeHead` takes it without building a header object. */
  headers: string[];
  body: Buffer;
}

/** A surface whose credential is a bearer token in a header, and how it answers a spent address. */
interface BearerSurface {
  path: RegExp;
  realm: string;
  refusal: (retryAfterSeconds: number) => PreparedRefusal;
}

// Retry-After values whose answers are kept per surface: jml's budget refills one failure in 5 s,
// so it asks for 1 to 5 s; a slower refill (tests) asks for more, and those are built each time.
const PREPARED_RETRY_AFTERS = 60;

/** The surface's 429 for each Retry-After, built on first use and kept (for the first 60 values). */
function preparedRefusals(type: string, body: (detail: string) => string): (retryAfterSeconds: number) => PreparedRefusal {
  const prepared: PreparedRefusal[] = [];
  const build = (seconds: number): PreparedRefusal => {
    const bytes = Buffer.from(body(throttledDetail(seconds)));
    return { headers: ['Content-Type', type, 'Content-Length', String(bytes.length), 'Retry-After', String(seconds)], body: bytes };
  };
  return (seconds) => {
    if (seconds > PREPARED_RETRY_AFTERS) return build(seconds);
    return (prepared[seconds] ??= build(seconds));
  };
}

/**
 * The surfaces the front door covers, matched case-insensitively as express routes them. The UI
 * is not among them (its log-in token is in the form body, and its pages go by session cookie);
 * nor is /oauth/token (its credential may be in the body): express answers those as before.
 */
function bearerSurfaces(hrWebhook: boolean): BearerSurface[] {
  const jsonType = 'application/json; charset=utf-8';
  const json = (detail: string) => JSON.stringify({ error: 'TooManyRequests', detail });
  return [
    // RFC 7644 §3.12: the error body, with the status as a string.
    { path: /^\/scim\/v2(?:[/?]|$)/i, realm: 'scim', refusal: preparedRefusals('application/scim+json; charset=utf-8', (detail) => JSON.stringify(errorBody(429, detail))) },
    ...(hrWebhook ? [{ path: /^\/api\/hr(?:[/?]|$)/i, realm: 'hr', refusal: preparedRefusals(jsonType, json) }] : []),
    { path: /^\/api(?:[/?]|$)/i, realm: 'operator', refusal: preparedRefusals(jsonType, json) },
    { path: /^\/metrics\/?(?:\?|$)/i, realm: 'metrics', refusal: preparedRefusals('text/plain; charset=utf-8', (detail) => `${detail}\n`) },
  ];
}

/**
 * The HTTP server's request listener: refuses an address that spent its failure budget before
 * express sees the request (no routing, no body, no request id, no log line, an answer built
 * once), then hands every other request to the app. A flood of wrong tokens from one address is
 * answered 429 here at the cost of a map lookup and a hash, so it takes little from the clients
 * whose tokens verify (issue 15; src/auth/failures.ts keeps the budgets and tallies each refusal
 * for the audit trail; docs/decisions/056-no-cost-for-the-unauthenticated.md).
 */
export function frontDoor(app: express.Express, options: { authFailures: AuthFailureGuard; hrWebhook?: boolean }): RequestListener {
  const surfaces = bearerSurfaces(options.hrWebhook ?? false);
  // Without a trusted proxy (JML_TRUST_PROXY unset, false or 0 hops) the client is the socket's
  // peer, which is what express's req.ip answers then too.
  const behindProxy = Boolean(app.get('trust proxy'));
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const surface = surfaces.find((candidate) => candidate.path.test(url));
    if (surface) {
      let address = req.socket.remoteAddress;
      if (behindProxy) {
        // express's own request prototype, so that req.ip follows the JML_TRUST_PROXY rules
        // exactly: express sets this prototype again when it takes over.
        Object.setPrototypeOf(req, app.request);
        address = (req as express.Request).ip;
      }
      const query = url.indexOf('?');
      const attempt = { address, method: req.method ?? 'GET', path: query < 0 ? url : url.slice(0, query) };
      const admission = options.authFailures.throttled(attempt, surface.realm, bearerOf(req.headers.authorization));
      if (!admission.allowed) {
        const refusal = surface.refusal(admission.retryAfterSeconds);
        res.writeHead(429, refusal.headers);
        res.end(refusal.body);
        return;
      }
    }
    app(req, res);
  };
}
