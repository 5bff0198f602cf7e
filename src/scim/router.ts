// The SCIM endpoint: authentication first, then a size-limited body parser, then scimmy-routers.
// scimmy-routers parses bodies before it authenticates and turns bulk on, so neither of those is
// left to it (docs/decisions/007-scim-front-door.md).
import express, { type NextFunction, type Request, type Response } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import type { Principal, TokenVerifier } from '../auth/tokens.js';
import { appendAudit } from '../audit/append.js';
import type { Logger } from '../logger.js';
import { errorBody } from './errors.js';
import { normalisePatchBody, normaliseResourceBody } from './dialects.js';
import { declareUsersResource, type ScimDependencies, type ScimRequestContext } from './users.js';

export interface ScimRouterOptions extends ScimDependencies {
  verifyToken: TokenVerifier;
  maxBodyBytes: number;
  /** The URL identity providers reach jml at; else taken from each request. */
  publicUrl?: string;
  logger: Logger;
}

const contexts = new WeakMap<Request, ScimRequestContext>();

function sendError(res: Response, status: number, detail: string, scimType?: string) {
  res.status(status).type('application/scim+json').send(JSON.stringify(errorBody(status, detail, scimType)));
}

function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

export function createScimRouter(options: ScimRouterOptions): express.Router {
  declareUsersResource();
  const router = express.Router();

  // RFC 7644 §2: authenticate every request, before reading its body.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const token = bearerToken(req);
    let principal: Principal | null = null;
    try {
      principal = token ? await options.verifyToken(token, 'scim') : null;
    } catch (error) {
      options.logger.error({ err: error }, 'token verification failed');
      return sendError(res, 503, 'The identity store is temporarily unavailable; retry later');
    }
    if (!principal) {
      await options.db
        .$transaction((tx) =>
          appendAudit(tx, [{ actor: 'anonymous', action: 'auth.failed', data: { realm: 'scim', reason: token ? 'unknown or revoked token' : 'no bearer token', ip: req.ip ?? null, method: req.method, path: req.originalUrl.slice(0, 200) } }]),
        )
        .catch((error: unknown) => options.logger.warn({ err: error }, 'could not audit an authentication failure'));
      res.set('WWW-Authenticate', 'Bearer realm="jml-scim"');
      return sendError(res, 401, 'A valid bearer token is required: create one with `npx jml tokens create --name <client>`');
    }
    contexts.set(req, { principal, deps: options });
    next();
  });

  router.use(express.json({ type: ['application/scim+json', 'application/json'], limit: options.maxBodyBytes }));
  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.method === 'PATCH') req.body = normalisePatchBody(req.body);
    else if (req.method === 'POST' || req.method === 'PUT') req.body = normaliseResourceBody(req.body);
    next();
  });

  // RFC 7644 §3.3: a created resource's URI goes in the Location header too.
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'POST') {
      const send = res.send.bind(res);
      res.send = (body?: unknown) => {
        const location = (body as { meta?: { location?: unknown } } | undefined)?.meta?.location;
        if (res.statusCode === 201 && typeof location === 'string') res.location(location);
        return send(body);
      };
    }
    next();
  });

  const scimmy = new SCIMMYRouters({
    type: 'bearer',
    docUri: 'https://github.com/jml-project/jml#scim',
    handler: () => 'authenticated',
    context: (req: Request) => contexts.get(req),
    baseUri: (req: Request) => options.publicUrl ?? `${req.protocol}://${req.get('host')}`,
  });
  // RFC 7644 §5: advertise exactly what is implemented. Bulk is not.
  SCIMMY.Config.set({
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    changePassword: false,
    etag: false,
    filter: { supported: true, maxResults: 200 },
    patch: true,
    sort: true,
  });
  router.use(scimmy);

  // Errors raised before scimmy (body too large, malformed JSON) still leave as SCIM errors.
  router.use((error: { status?: number; type?: string; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    // scimmy-routers answers its own errors, then passes 5xx on for logging only.
    if (res.headersSent) {
      options.logger.error({ err: error }, 'SCIM request failed');
      return;
    }
    if (error.type === 'entity.too.large') return sendError(res, 413, `Request body exceeds ${options.maxBodyBytes} bytes`);
    if (error.type === 'entity.parse.failed') return sendError(res, 400, 'Request body is not valid JSON', 'invalidSyntax');
    const status = error.status && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) options.logger.error({ err: error }, 'SCIM request failed');
    return sendError(res, status, status >= 500 ? 'Internal error' : (error.message ?? 'Bad request'));
  });
  return router;
}
