// The SCIM endpoint: authentication first, then a per-client rate limit, then a size-limited body
// parser, then jml's own list/search/write endpoints and Bulk, then scimmy-routers for discovery.
// scimmy-routers parses bodies before it authenticates and would run Bulk through its own code
// path, so neither is left to it (docs/decisions/007-scim-front-door.md, 032-scim-bulk.md).
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { looksLikeJwt, type AccessTokenService } from '../auth/access-tokens.js';
import type { TokenVerifier } from '../auth/tokens.js';
import { authenticate, bearerToken } from '../auth/http.js';
import type { AuthFailureGuard } from '../auth/failures.js';
import { can, forbiddenDetail } from '../auth/roles.js';
import type { Logger } from '../logger.js';
import { listIdentityIds } from './query/list.js';
import { canonicalDiscoveryUrl, normalisePatchBody, normaliseResourceBody, type ResourceType } from './dialect/index.js';
import { etagMatches } from './etag.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../db/errors.js';
import { logFailure } from '../http-failures.js';
import { errorBody, toScimError } from './errors.js';
import { ClientRateLimiter } from './rate-limit.js';
import { createBulkHandler, type BulkLimits } from './bulk.js';
import { mountResource, resourceWrites } from './resource-routes.js';
import { declareUsersResource, loadUsers, type ScimDependencies, type ScimRequestContext } from './users.js';
import { declareGroupsResource, loadGroups } from './groups.js';
import { listGroupIds } from './query/list-groups.js';

export interface ScimRouterOptions extends ScimDependencies {
  verifyToken: TokenVerifier;
  /** Verifies OAuth access tokens (JWTs from /oauth/token); without it only bearer tokens work. */
  accessTokens?: AccessTokenService;
  /** Failed authentication: limited per client address and tallied per window (src/auth/failures.ts). */
  authFailures: AuthFailureGuard;
  maxBodyBytes: number;
  /** Requests per second per SCIM client (0: unlimited), and the burst above it. */
  rateLimit?: { perSecond: number; burst: number };
  /** RFC 7644 §3.7.4: the most operations and bytes one Bulk request may carry. */
  bulk?: Partial<BulkLimits>;
  /** The URL identity providers reach jml at; else taken from each request. */
  publicUrl?: string;
  logger: Logger;
}

const contexts = new WeakMap<Request, ScimRequestContext>();

function containsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > 64) return false;
  if (Array.isArray(value)) return value.some((item) => containsNul(item, depth + 1));
  return Object.entries(value as Record<string, unknown>).some(([key, item]) => key.includes('\u0000') || containsNul(item, depth + 1));
}

function sendError(res: Response, status: number, detail: string, scimType?: string) {
  if (status === 503) res.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
  res.status(status).type('application/scim+json').send(JSON.stringify(errorBody(status, detail, scimType)));
}

function sendScimError(res: Response, error: unknown) {
  const scim = toScimError(error);
  // The body says only "internal error": the log line, found by the response's X-Request-Id, says what.
  if (Number(scim.status) >= 500) logFailure(res, error, 'SCIM request failed');
  sendError(res, Number(scim.status), scim.message, scim.scimType || undefined);
}

function contextOf(req: Request): ScimRequestContext {
  const context = contexts.get(req);
  if (!context) throw new Error('SCIM request context missing: the authentication middleware did not run');
  return context;
}

/** Wraps an async handler so that any error leaves as a SCIM error body. */
function handle(handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return (req, res) => {
    handler(req, res).catch((error: unknown) => sendScimError(res, error));
  };
}

export function createScimRouter(options: ScimRouterOptions): express.Router {
  declareUsersResource();
  declareGroupsResource();
  const router = express.Router();
  const limiter = new ClientRateLimiter(options.rateLimit?.perSecond ?? 0, options.rateLimit?.burst ?? 1);
  const baseOf = (req: Request) => `${options.publicUrl ?? `${req.protocol}://${req.get('host')}`}${req.baseUrl}`;

  router.use((req: Request, _res: Response, next: NextFunction) => {
    req.url = canonicalDiscoveryUrl(req.url);
    next();
  });

  // RFC 7644 §2: authenticate every request, before reading its body.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    let authentication;
    try {
      authentication = await authenticate(req, {
        realm: 'scim',
        token: bearerToken(req),
        guard: options.authFailures,
        verify: (token) => (options.accessTokens && looksLikeJwt(token) ? options.accessTokens.verify(token) : options.verifyToken(token)),
        refusedReason: 'unknown, expired or revoked token',
      });
    } catch (error) {
      options.logger.error({ err: error }, 'token verification failed');
      return sendError(res, 503, 'The identity store is temporarily unavailable; retry later');
    }
    if (authentication.outcome === 'throttled') {
      res.set('Retry-After', String(authentication.retryAfterSeconds));
      return sendError(res, 429, `Too many failed authentications from this address: retry after ${authentication.retryAfterSeconds} s`);
    }
    if (authentication.outcome === 'refused') {
      res.set('WWW-Authenticate', 'Bearer realm="jml-scim"');
      return sendError(res, 401, 'A valid bearer token is required: create one with `npx jml tokens create --name <client>`');
    }
    const { principal } = authentication;
    if (!can(principal, 'provision')) return sendError(res, 403, forbiddenDetail(principal, 'provision'));
    const decision = limiter.take(principal.tokenId);
    if (!decision.allowed) {
      res.set('Retry-After', String(decision.retryAfterSeconds));
      return sendError(res, 429, `Too many requests from ${principal.name}: retry after ${decision.retryAfterSeconds} s`);
    }
    contexts.set(req, { principal, deps: options, preconditions: {} });
    next();
  });

  const bulkLimits: BulkLimits = { maxOperations: options.bulk?.maxOperations ?? 1000, maxPayloadSize: options.bulk?.maxPayloadSize ?? 4 * 1024 * 1024 };
  // A Bulk request may be larger than a single one; its limit is checked against Content-Length
  // before the body is read (413), and the general parser below skips a body already parsed.
  router.use('/Bulk', express.json({ type: ['application/scim+json', 'application/json'], limit: bulkLimits.maxPayloadSize }));
  router.use(express.json({ type: ['application/scim+json', 'application/json'], limit: options.maxBodyBytes }));
  router.use((req: Request, res: Response, next: NextFunction) => {
    // PostgreSQL cannot store U+0000 in text or jsonb; refused here, it is a clear 400 for the
    // client instead of a failed query that would look like an outage.
    if (containsNul(req.body) || containsNul(req.query)) {
      return sendError(res, 400, 'Strings must not contain the NUL character (U+0000)', 'invalidValue');
    }
    const resourceType: ResourceType | undefined = /^\/groups(\/|$)/i.test(req.path) ? 'Groups' : /^\/users(\/|$)/i.test(req.path) ? 'Users' : undefined;
    if (resourceType && req.method === 'PATCH') req.body = normalisePatchBody(req.body, resourceType);
    else if (resourceType && (req.method === 'POST' || req.method === 'PUT')) req.body = normaliseResourceBody(req.body, resourceType);
    const ifMatch = req.get('if-match');
    if (ifMatch) contextOf(req).preconditions.ifMatch = ifMatch;
    next();
  });

  // RFC 7644 §3.3 and §3.14: a created resource's URI goes in Location, every returned
  // resource's version in ETag, and a GET whose If-None-Match matches is answered 304.
  router.use((req: Request, res: Response, next: NextFunction) => {
    const send = res.send.bind(res);
    res.send = (body?: unknown) => {
      const meta = (body as { meta?: { location?: unknown; version?: unknown } } | undefined)?.meta;
      if (res.statusCode === 201 && typeof meta?.location === 'string') res.location(meta.location);
      if (res.statusCode < 300 && typeof meta?.version === 'string') {
        res.set('ETag', meta.version);
        const ifNoneMatch = req.get('if-none-match');
        if (req.method === 'GET' && ifNoneMatch && etagMatches(ifNoneMatch, meta.version)) {
          res.status(304);
          return send();
        }
      }
      return send(body);
    };
    next();
  });

  const routes = { db: options.db, contextOf, baseOf, handle };
  const users = { path: '/Users', Resource: SCIMMY.Resources.User, Schema: SCIMMY.Schemas.User, list: listIdentityIds, load: loadUsers } as const;
  const groups = { path: '/Groups', Resource: SCIMMY.Resources.Group, Schema: SCIMMY.Schemas.Group, list: listGroupIds, load: loadGroups } as const;
  mountResource(router, users, routes);
  mountResource(router, groups, routes);
  router.post(
    '/Bulk',
    handle(createBulkHandler({ db: options.db, limits: bulkLimits, writes: { Users: resourceWrites(users), Groups: resourceWrites(groups) }, contextOf, baseOf })),
  );
  router.post('/.search', (_req, res) =>
    sendError(res, 501, 'Searching across resource types is not implemented: use /Users/.search or /Groups/.search'),
  );

  const scimmy = new SCIMMYRouters({
    type: 'bearer',
    docUri: 'https://github.com/jml-project/jml#scim',
    handler: () => 'authenticated',
    context: (req: Request) => contexts.get(req),
    baseUri: (req: Request) => options.publicUrl ?? `${req.protocol}://${req.get('host')}`,
  });
  // RFC 7644 §5: advertise exactly what is implemented.
  SCIMMY.Config.set({
    bulk: { supported: true, ...bulkLimits },
    changePassword: false,
    etag: true,
    filter: { supported: true, maxResults: 200 },
    patch: true,
    sort: true,
  });
  router.use(scimmy);

  // Errors raised before scimmy (body too large, malformed JSON) still leave as SCIM errors.
  router.use((error: { status?: number; type?: string; message?: string; limit?: number }, _req: Request, res: Response, _next: NextFunction) => {
    // scimmy-routers answers its own errors, then passes 5xx on for logging only; 501 (cross-type search,
    // /Me) is an answer, not a failure.
    if (res.headersSent) {
      if (error.status !== 501) options.logger.error({ err: error }, 'SCIM request failed');
      return;
    }
    if (error.type === 'entity.too.large') return sendError(res, 413, `Request body exceeds ${error.limit ?? options.maxBodyBytes} bytes`);
    if (error.type === 'entity.parse.failed') return sendError(res, 400, 'Request body is not valid JSON', 'invalidSyntax');
    const status = error.status && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) options.logger.error({ err: error }, 'SCIM request failed');
    return sendError(res, status, status >= 500 ? 'Internal error' : (error.message ?? 'Bad request'));
  });
  return router;
}
