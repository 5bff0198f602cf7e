// The operator API under /api: lifecycle events, held leavers, retries, and an admin's tokens and settings. Authentication first
// (any live token; each route names the permission it needs, src/auth/roles.ts, and refuses
// other roles with 403), then a rate limit, then a size-limited JSON parser, then zod on every
// input. Errors leave as `{ error, detail }` with a stable `error` name (RFC 9457 in spirit).
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { authenticate, bearerToken, refusalOf } from '../auth/http.js';
import type { AuthFailureGuard } from '../auth/failures.js';
import { can, forbiddenDetail, type Permission } from '../auth/roles.js';
import { createAdminRouter } from './admin-routes.js';
import { createAuditRouter } from './audit-routes.js';
import type { PublicSetting } from '../config.js';
import type { BundleSource } from '../audit/bundle.js';
import type { Principal, TokenVerifier } from '../auth/tokens.js';
import type { Database } from '../db/client.js';
import {
  approveAllHeld,
  approveEvent,
  eventIdSchema,
  getEvent,
  listEvents,
  listEventsSchema,
  rejectEvent,
  rejectSchema,
  retryEvent,
  retrySchema,
} from '../lifecycle/operations.js';
import type { Logger } from '../logger.js';
import { createReportRouter } from './report-routes.js';
import { ScimError, toScimError } from '../scim/errors.js';
import type { ScimDependencies } from '../scim/users.js';
import { identityIdSchema, terminateNow, terminateSchema } from '../hr/terminate.js';
import { importHrChanges, MAX_IMPORT_BYTES } from '../hr/import.js';
import { MAX_MAPPING_BYTES, parseMappingText } from '../hr/mapping.js';
import { readUpload, type UploadRefused } from '../ui/upload.js';
import { ClientRateLimiter } from '../scim/rate-limit.js';
import {
  findingIdSchema,
  findingsQuerySchema,
  ignoreFinding,
  ignoreSchema,
  latestRuns,
  remediateFinding,
  requestReconciliation,
  requestSchema,
  runFindings,
  runIdSchema,
  type ReconcileSetup,
} from '../reconcile/operations.js';
import { decideIdleSweep, heldIdleSweeps, idleSweepRejectSchema } from '../lifecycle/idle-sweep-approval.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../db/errors.js';
import { logFailure } from '../http-failures.js';

export interface OperatorApiOptions {
  db: Database;
  verifyToken: TokenVerifier;
  /** Failed authentication: limited per client address and tallied per window (src/auth/failures.ts). */
  authFailures: AuthFailureGuard;
  logger: Logger;
  /** Larger request bodies get 413 before they are parsed (default 16 KiB). */
  maxBodyBytes?: number;
  /** Requests per second per operator token (0: unlimited), and the burst above it. */
  rateLimit?: { perSecond: number; burst: number };
  /** Called after a transaction that wrote outbox rows committed: kick the relay. */
  onOutboxWritten: () => void;
  /** JML_DEPROVISION_SLA_MS, for the time-to-deprovision report (default 4 hours). */
  deprovisionSlaMs?: number;
  /** The key and checkpoints signed evidence bundles are made with (docs/decisions/036-evidence-bundles.md). */
  bundles?: BundleSource;
  /** The systems reconciliation lists; its routes answer 404 without it (docs/decisions/022-reconciliation.md). */
  reconcile?: ReconcileSetup;
  /** The intake SCIM writes go through, for changes of people (terminate now); those routes answer 404 without it. */
  intake?: ScimDependencies;
  /** JML_APPROVALS_REQUIRED: 2 makes releasing a held leaver take two different operators. */
  approvalsRequired?: number;
  /** JML_MASS_RELEASE_THRESHOLD: approving more held events than this runs them in one mass-release workflow (decision 048). */
  massReleaseThreshold?: number;
  /** The effective settings without secrets, for an admin's GET /api/settings (src/config.ts publicSettings). */
  settings?: Record<string, PublicSetting>;
}

const principals = new WeakMap<Request, Principal>();

function sendError(res: Response, status: number, error: string, detail: string, extra: Record<string, unknown> = {}) {
  res.status(status).type('application/json').send(JSON.stringify({ error, detail, ...extra }));
}

function principalOf(req: Request): Principal {
  const principal = principals.get(req);
  if (!principal) throw new Error('operator missing: the authentication middleware did not run');
  return principal;
}

function operatorOf(req: Request): string {
  return principalOf(req).name;
}

/** A request's input failed validation: 400 with one entry per offending field. */
class InvalidInput extends Error {
  override readonly name = 'InvalidInput';
  constructor(readonly fields: { field: string; message: string }[]) {
    super(`Invalid ${fields.map((entry) => entry.field).join(', ')}: ${fields.map((entry) => `${entry.field} ${entry.message}`).join('; ')}`);
  }
}

function invalidInput(error: z.ZodError, prefix?: string): InvalidInput {
  return new InvalidInput(
    error.issues.flatMap((issue) => {
      const field = (key?: PropertyKey) => [prefix, ...issue.path.map(String), key && String(key)].filter(Boolean).join('.') || 'body';
      return issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ field: field(key), message: 'is not a known field' })) : [{ field: field(), message: issue.message }];
    }),
  );
}

function parse<T extends z.ZodType>(schema: T, value: unknown, prefix?: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidInput(result.error, prefix);
}

// The query names the person `identity` (their SCIM id); the service calls it identityId.
const listQuery = listEventsSchema.omit({ identityId: true }).extend({ identity: listEventsSchema.shape.identityId });
const noBody = z.strictObject({});
/** `?dry-run` (or `?dry-run=true`) shows what an import would change; without it the import applies, as the CLI's. */
const importQuery = z.strictObject({ 'dry-run': z.enum(['', 'true', 'false']).optional().transform((value) => value === '' || value === 'true') });

/** The body, or `{}` when the request had none (approve needs none; retry's is optional). */
function bodyOf(req: Request): unknown {
  return (req.body as unknown) ?? {};
}

function toHttp(res: Response, error: unknown, logger: Logger): void {
  if (error instanceof z.ZodError) error = invalidInput(error);
  if (error instanceof InvalidInput) return sendError(res, 400, 'InvalidRequest', error.message, { errors: error.fields });
  const named = error as { name?: string; message?: string; type?: string; status?: number };
  switch (named.name) {
    case 'EventNotFound':
    case 'UnknownPerson':
    case 'RunNotFound':
    case 'FindingNotFound':
    case 'TokenNotFound':
      return sendError(res, 404, named.name, named.message ?? 'not found');
    case 'MappingError':
    case 'CsvFormatError':
      return sendError(res, 400, named.name, named.message ?? 'bad file');
    case 'UploadRefused':
      // The rest of an unread body is dropped; the connection closes instead of being reused.
      res.set('Connection', 'close');
      return sendError(res, (error as UploadRefused).status, named.name, named.message ?? 'upload refused');
    case 'EventNotInState':
    case 'EventSuperseded':
    case 'SecondApproverRequired':
    case 'NothingToReconcile':
    case 'IdleSweepNotHeld':
    case 'FindingNotActionable':
    case 'TokenAlreadyRevoked':
      return sendError(res, 409, named.name, named.message ?? 'conflict');
  }
  // The person was deleted between the lookup and the row lock (src/scim/users.ts).
  if (error instanceof ScimError && Number(error.status) === 404) return sendError(res, 404, 'UnknownPerson', error.message);
  if (named.type === 'entity.too.large') return sendError(res, 413, 'PayloadTooLarge', 'The request body is too large');
  if (named.type === 'entity.parse.failed') return sendError(res, 400, 'InvalidRequest', 'The request body is not valid JSON');
  // The body parser's other refusals (an unsupported charset, an aborted upload) say what is wrong.
  if (named.type && named.status && named.status >= 400 && named.status < 500) return sendError(res, named.status, 'InvalidRequest', named.message ?? 'Bad request');
  // One classification of database errors for every HTTP surface (src/db/errors.ts).
  const status = Number(toScimError(error).status);
  if (status === 400) return sendError(res, 400, 'InvalidRequest', toScimError(error).message);
  if (status === 503) {
    logFailure(res, error, 'operator API: database unavailable', logger);
    res.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
    return sendError(res, 503, 'ServiceUnavailable', 'The database is temporarily unavailable; retry later');
  }
  logFailure(res, error, 'operator API request failed', logger);
  return sendError(res, 500, 'InternalError', `Internal error; the server log has the details under request id ${String(res.locals.requestId)}`);
}

export function createOperatorRouter(options: OperatorApiOptions): express.Router {
  const { db, logger } = options;
  const router = express.Router();
  const limiter = new ClientRateLimiter(options.rateLimit?.perSecond ?? 0, options.rateLimit?.burst ?? 1);
  const handle =
    (handler: (req: Request, res: Response) => Promise<void>): RequestHandler =>
    (req, res) => {
      handler(req, res).catch((error: unknown) => toHttp(res, error, logger));
    };

  // Every request is authenticated before its body is read.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    let authentication;
    try {
      authentication = await authenticate(req, {
        realm: 'operator',
        token: bearerToken(req),
        guard: options.authFailures,
        verify: options.verifyToken,
        refusedReason: 'unknown or revoked token',
      });
    } catch (error) {
      return toHttp(res, error, logger);
    }
    if (authentication.outcome !== 'authenticated') {
      const refusal = refusalOf(authentication, {
        realm: 'jml-operator',
        howToGetOne: 'A bearer token is required: create one with `npx jml tokens create --name <you> --role operator` (or auditor, admin)',
      });
      res.set(refusal.headers);
      return sendError(res, refusal.status, refusal.error, refusal.detail);
    }
    const { principal } = authentication;
    const decision = limiter.take(principal.tokenId);
    if (!decision.allowed) {
      res.set('Retry-After', String(decision.retryAfterSeconds));
      return sendError(res, 429, 'TooManyRequests', `Too many requests from ${principal.name}: retry after ${decision.retryAfterSeconds} s`);
    }
    principals.set(req, principal);
    next();
  });

  /** The route needs this permission (src/auth/roles.ts); anyone else gets 403 with what to ask for. */
  const allow =
    (permission: Permission): RequestHandler =>
    (req, res, next) => {
      const principal = principals.get(req);
      if (principal && can(principal, permission)) return next();
      if (principal) return sendError(res, 403, 'Forbidden', forbiddenDetail(principal, permission));
      next(new Error('operator API: the authentication middleware did not run'));
    };

  const intake = options.intake;
  if (intake) {
    // The HR CSV import (issue 16, decision 025), exactly as `jml hr import` and /ui/hr run it:
    // the CSV and its mapping as multipart/form-data (RFC 7578), each file refused past its limit
    // while it arrives, before anything is parsed. Registered before the JSON-only rule below.
    router.post(
      '/hr/import',
      allow('changePeople'),
      handle(async (req, res) => {
        const { 'dry-run': dryRun } = parse(importQuery, req.query);
        const upload = await readUpload(req, { files: { csv: MAX_IMPORT_BYTES, mapping: MAX_MAPPING_BYTES }, fields: [] });
        const csv = upload.files.csv;
        const mappingFile = upload.files.mapping;
        if (!csv || !mappingFile) throw new InvalidInput([{ field: csv ? 'mapping' : 'csv', message: 'is required: send the CSV export as "csv" and its mapping as "mapping"' }]);
        const mapping = parseMappingText(mappingFile.content.toString('utf8'), mappingFile.name);
        const report = await importHrChanges(intake, { csv: csv.content, mapping, fileName: csv.name, dryRun, principal: principalOf(req) });
        // Rows that cannot be applied mean nothing was: 422 with each row's line and reason.
        res.status(report.errors.length > 0 ? 422 : 200).json(report);
      }),
    );
  }

  // A body that is not JSON would otherwise be ignored: a retry meant for one system would run all.
  router.use((req: Request, res: Response, next: NextFunction) => {
    const empty = req.get('content-length') === '0';
    if (!empty && req.is('application/json') === false) return sendError(res, 415, 'UnsupportedMediaType', 'Send request bodies as application/json');
    next();
  });
  router.use(express.json({ limit: options.maxBodyBytes ?? 16 * 1024 }));

  const kick = () => options.onOutboxWritten();

  router.get(
    '/events',
    allow('readEvents'),
    handle(async (req, res) => {
      parse(listQuery, req.query);
      // Validated above under the API's names; the service parses the same strings again.
      const { identity, ...rest } = req.query as Record<string, string | undefined>;
      res.json(await listEvents(db, { ...rest, identityId: identity }));
    }),
  );

  router.get(
    '/events/:id',
    allow('readEvents'),
    handle(async (req, res) => {
      res.json(await getEvent(db, parse(eventIdSchema, req.params.id, 'id')));
    }),
  );

  router.post(
    '/events/:id/approve',
    allow('actOnEvents'),
    handle(async (req, res) => {
      const eventId = parse(eventIdSchema, req.params.id, 'id');
      parse(noBody, bodyOf(req));
      res.json(await approveEvent(db, { eventId, by: operatorOf(req), onOutboxWritten: kick, approvalsRequired: options.approvalsRequired }));
    }),
  );

  router.post(
    '/events/:id/reject',
    allow('actOnEvents'),
    handle(async (req, res) => {
      const eventId = parse(eventIdSchema, req.params.id, 'id');
      const { reason } = parse(rejectSchema, bodyOf(req));
      res.json(await rejectEvent(db, { eventId, reason, by: operatorOf(req), onOutboxWritten: kick }));
    }),
  );

  router.post(
    '/events/:id/retry',
    allow('actOnEvents'),
    handle(async (req, res) => {
      const eventId = parse(eventIdSchema, req.params.id, 'id');
      const { system } = parse(retrySchema, bodyOf(req));
      res.json(await retryEvent(db, { eventId, system, by: operatorOf(req), onOutboxWritten: kick }));
    }),
  );

  router.post(
    '/held/approve',
    allow('actOnEvents'),
    handle(async (req, res) => {
      parse(noBody, bodyOf(req));
      res.json(await approveAllHeld(db, { by: operatorOf(req), onOutboxWritten: kick, approvalsRequired: options.approvalsRequired, massReleaseThreshold: options.massReleaseThreshold }));
    }),
  );

  if (intake) {
    router.post(
      '/identities/:id/terminate',
      allow('changePeople'),
      handle(async (req, res) => {
        const identityId = parse(identityIdSchema, req.params.id, 'id');
        const { reason } = parse(terminateSchema, bodyOf(req));
        res.json(await terminateNow(intake, { identityId, reason, principal: principalOf(req) }));
      }),
    );
  }

  const reconcile = options.reconcile;
  if (reconcile) {
    router.post(
      '/reconcile',
      allow('actOnEvents'),
      handle(async (req, res) => {
        const { system, dryRun } = parse(requestSchema, bodyOf(req));
        const requested = await requestReconciliation(db, reconcile, { by: operatorOf(req), system, dryRun });
        kick();
        res.status(202).json(requested);
      }),
    );
    // What reconciliation found is part of the record: an auditor reads it; an operator acts on it.
    router.get(
      '/reconcile/runs',
      allow('readAudit'),
      handle(async (_req, res) => {
        res.json({ runs: await latestRuns(db) });
      }),
    );
    router.get(
      '/reconcile/runs/:id/findings',
      allow('readAudit'),
      handle(async (req, res) => {
        res.json(await runFindings(db, parse(runIdSchema, req.params.id, 'id'), parse(findingsQuerySchema, req.query)));
      }),
    );
    router.post(
      '/reconcile/findings/:id/ignore',
      allow('actOnEvents'),
      handle(async (req, res) => {
        const { reason } = parse(ignoreSchema, bodyOf(req));
        res.json(await ignoreFinding(db, { findingId: parse(findingIdSchema, req.params.id, 'id'), by: operatorOf(req), reason }));
      }),
    );
    if (intake) {
      router.post(
        '/reconcile/findings/:id/remediate',
        allow('actOnEvents'),
        handle(async (req, res) => {
          parse(noBody, bodyOf(req));
          res.json(await remediateFinding(db, intake.lifecycle, { findingId: parse(findingIdSchema, req.params.id, 'id'), by: operatorOf(req), onOutboxWritten: kick }));
        }),
      );
    }
  }

  // Idle sweeps the guard holds (decision 042): the same verdict as `jml idle-sweep approve|reject`.
  router.get(
    '/idle-sweeps',
    allow('readEvents'),
    handle(async (_req, res) => {
      res.json({ held: await heldIdleSweeps(db) });
    }),
  );
  for (const verdict of ['approve', 'reject'] as const) {
    router.post(
      `/idle-sweeps/:workflowId/${verdict}`,
      allow('actOnEvents'),
      handle(async (req, res) => {
        const { reason } = verdict === 'reject' ? parse(idleSweepRejectSchema, bodyOf(req)) : parse(noBody, bodyOf(req));
        const input = { workflowId: String(req.params.workflowId), by: operatorOf(req), approve: verdict === 'approve', reason, approvalsRequired: options.approvalsRequired, onOutboxWritten: kick };
        res.json(await decideIdleSweep(db, input));
      }),
    );
  }

  // Tokens and settings: an admin's, and nobody else's (src/api/admin-routes.ts).
  router.use('/tokens', allow('manageTokens'));
  router.use('/settings', allow('manageSettings'));
  router.use(createAdminRouter({ db, principalOf, settings: options.settings }));

  router.use('/reports', allow('readAudit'), createReportRouter({ db, deprovisionSlaMs: options.deprovisionSlaMs }));
  router.use(['/audit', '/evidence'], allow('readAudit'));
  router.use(createAuditRouter({ db, bundles: options.bundles }));

  router.use((req: Request, res: Response) => sendError(res, 404, 'NotFound', `No operator route ${req.method} ${req.baseUrl}${req.path}`));
  // Body-parser failures (too large, not JSON) arrive here.
  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => toHttp(res, error, logger));
  return router;
}
