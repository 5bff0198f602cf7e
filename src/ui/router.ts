// The operator web pages under /ui: leavers in flight and held, what needs attention (with retry),
// the SLA report with its chart, one person's evidence, and an admin's tokens and settings. Server-rendered HTML with no script;
// forms post to the same services the operator API calls (src/lifecycle/operations.ts).
//
// Authentication: an operator logs in once with an operator token; the server keeps a session in
// memory and the browser an HttpOnly, SameSite=Strict cookie with the session's random id. Every
// request re-checks that the token behind the session is not revoked. Posts must come from our
// own pages (src/ui/security.ts). Failed log-ins are counted per window in the audit trail (`auth.failed`, realm `ui`) and
// rate-limited per client address.
import { readFileSync } from 'node:fs';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import { authenticate } from '../auth/http.js';
import type { AuthFailureGuard } from '../auth/failures.js';
import { can, forbiddenDetail, type Permission } from '../auth/roles.js';
import { buildEvidence, PersonNotFound } from '../audit/evidence.js';
import { bundleFileName, buildBundle, type BundleSource } from '../audit/bundle.js';
import { BundleError } from '../audit/bundle-verify.js';
import { DEFAULT_DEPROVISION_SLA_MS, deprovisioningReport, reportCsv, reportWindowSchema } from '../audit/report.js';
import type { TokenVerifier } from '../auth/tokens.js';
import { createTokenAs, createTokenSchema, listTokensAs, readSettingsAs, revokeTokenAs } from '../auth/administration.js';
import type { PublicSetting } from '../config.js';
import { SYSTEMS } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import { approveAllHeld, approveEvent, eventIdSchema, listEvents, rejectEvent, retryEvent, type EventView } from '../lifecycle/operations.js';
import { targetsToDo } from '../lifecycle/to-do.js';
import type { Logger } from '../logger.js';
import { findingIdSchema, findingsQuerySchema, ignoreFinding, ignoreSchema, latestRuns, remediateFinding, requestReconciliation, runFindings, runIdSchema, type ReconcileSetup } from '../reconcile/operations.js';
import { decideIdleSweep, heldIdleSweeps, idleSweepRejectSchema } from '../lifecycle/idle-sweep-approval.js';
import { toScimError } from '../scim/errors.js';
import type { ScimDependencies } from '../scim/users.js';
import { identityIdSchema, terminateNow, terminateSchema } from '../hr/terminate.js';
import { CsvFormatError, importHrChanges, MAX_IMPORT_BYTES } from '../hr/import.js';
import { MappingError, MAX_MAPPING_BYTES, parseMappingText } from '../hr/mapping.js';
import { html } from './html.js';
import { readUpload, UploadRefused } from './upload.js';
import { adminBody, type AdminInput, evidenceBody, findingsBody, reconcileBody, hrImportBody, layout, loginPage, messagePage, overviewBody, reportBody, type Names } from './pages.js';
import { sameOrigin, securityHeaders, sessionCookie, sessionIdOf } from './security.js';
import { DEFAULT_SESSION_TTL_MS, SessionStore, type Session } from './sessions.js';
import { DATABASE_RETRY_AFTER_SECONDS } from '../db/errors.js';
import { logFailure } from '../http-failures.js';

export interface UiOptions {
  db: Database;
  verifyToken: TokenVerifier;
  /** Failed log-ins: limited per client address and tallied per window (src/auth/failures.ts). */
  authFailures: AuthFailureGuard;
  /** PUBLIC_URL: the origin form posts must come from (else the request's own Host). */
  publicUrl?: string;
  logger: Logger;
  onOutboxWritten: () => void;
  deprovisionSlaMs?: number;
  sessionTtlMs?: number;
  /** The intake SCIM writes go through, for the terminate-now button. */
  intake?: ScimDependencies;
  /** The key and checkpoints signed evidence bundles are made with. */
  bundles?: BundleSource;
  /** The systems reconciliation lists: the overview shows its runs and a button (decision 022). */
  reconcile?: ReconcileSetup;
  /** JML_APPROVALS_REQUIRED: 2 makes releasing a held leaver take two different operators. */
  approvalsRequired?: number;
  /** JML_MASS_RELEASE_THRESHOLD: approving more held events than this runs them in one mass-release workflow (decision 048). */
  massReleaseThreshold?: number;
  /** The effective settings without secrets, for an admin's page (src/config.ts publicSettings). */
  settings?: Record<string, PublicSetting>;
}

const STYLESHEET = readFileSync(new URL('./ui.css', import.meta.url), 'utf8');
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2750a8"/></svg>';
const sessions = new WeakMap<Request, Session>();
const form = express.urlencoded({ extended: false, limit: '4kb', parameterLimit: 10 });

const loginForm = z.object({ token: z.string().trim().min(1).max(500) });
const retryForm = z.strictObject({ system: z.enum(SYSTEMS).optional() });
const rejectForm = z.strictObject({ reason: z.string().trim().max(1000).optional() });
const reportQuery = z.strictObject({ from: z.string().max(40).optional(), to: z.string().max(40).optional() });
const evidenceQuery = z.strictObject({ subject: z.string().trim().max(300).optional() });
const noForm = z.strictObject({});

function sessionOf(req: Request): Session {
  const session = sessions.get(req);
  if (!session) throw new Error('session missing: the session middleware did not run');
  return session;
}

/** The page, with the session's one-time message shown and then dropped. */
function sendPage(res: Response, session: Session, title: string, body: Parameters<typeof layout>[0]['body'], status = 200): void {
  res.status(status).type('html').send(layout({ title, session, body }));
  session.flash = undefined;
}

/** What an operator can fix (a wrong id, an event no longer in that state) goes back as a message. */
const OPERATOR_ERRORS = new Set(['TokenNotFound', 'TokenAlreadyRevoked', 'EventNotFound', 'EventNotInState', 'EventSuperseded', 'UnknownPerson', 'SecondApproverRequired', 'NothingToReconcile', 'IdleSweepNotHeld', 'FindingNotFound', 'FindingNotActionable']);
/** A role with none of these has no page to see. */
const UI_PERMISSIONS: readonly Permission[] = ['readEvents', 'readAudit', 'manageTokens', 'manageSettings'];

export function createUiRouter(options: UiOptions): express.Router {
  const { db, logger } = options;
  const router = express.Router();
  const ttlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const store = new SessionStore(ttlMs);
  const slaMs = options.deprovisionSlaMs ?? DEFAULT_DEPROVISION_SLA_MS;
  const handle =
    (handler: (req: Request, res: Response) => Promise<void>): RequestHandler =>
    (req, res, next) => {
      handler(req, res).catch(next);
    };

  router.use(securityHeaders);
  router.get('/ui.css', (_req, res) => {
    res.type('css').send(STYLESHEET);
  });
  // Without an icon of its own the browser asks for /favicon.ico, and logs the 404 as an error.
  router.get('/favicon.svg', (_req, res) => {
    res.type('image/svg+xml').send(FAVICON);
  });

  // Refused before any body is read or any session is looked at.
  router.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || sameOrigin(req, options.publicUrl)) return next();
    res.status(403).type('html').send(messagePage('Refused', 'This request did not come from a jml page (Origin check): reload the page and try again.'));
  });

  router.get('/login', (req, res) => {
    if (store.get(sessionIdOf(req))) return res.redirect(303, '/ui/');
    res.type('html').send(loginPage());
  });

  router.post(
    '/login',
    form,
    handle(async (req, res) => {
      const input = loginForm.safeParse(req.body);
      const authentication = await authenticate(req, {
        realm: 'ui',
        token: input.success ? input.data.token : undefined,
        guard: options.authFailures,
        verify: options.verifyToken,
        refusedReason: 'unknown or revoked token',
      });
      if (authentication.outcome === 'throttled') {
        res.set('Retry-After', String(authentication.retryAfterSeconds));
        res.status(429).type('html').send(loginPage(`Too many failed log-ins from this address: wait ${authentication.retryAfterSeconds} s.`));
        return;
      }
      if (authentication.outcome === 'refused') {
        res.status(401).type('html').send(loginPage('That is not a valid token (an operator or auditor token).'));
        return;
      }
      const { principal } = authentication;
      // A SCIM or hr token opens no page: say so rather than log in to an empty page.
      if (!UI_PERMISSIONS.some((permission) => can(principal, permission))) {
        res.status(403).type('html').send(loginPage(forbiddenDetail(principal, 'readAudit')));
        return;
      }
      // A fresh id at each log-in: an id planted before log-in is never promoted (session fixation).
      const previous = sessionIdOf(req);
      if (previous) store.destroy(previous);
      const session = store.create(principal);
      res.set('Set-Cookie', sessionCookie(req, session.id, ttlMs)).redirect(303, '/ui/');
    }),
  );

  // Everything below needs a live session whose token is still valid.
  const requireSession = async (req: Request, res: Response): Promise<boolean> => {
    const session = store.get(sessionIdOf(req));
    const tokenId = session?.principal.tokenId;
    const revoked = tokenId && tokenId !== 'env' ? (await db.apiToken.findUnique({ where: { id: tokenId }, select: { revokedAt: true } }))?.revokedAt !== null : false;
    if (session && !revoked) {
      sessions.set(req, session);
      return true;
    }
    if (session) store.destroy(session.id);
    if (req.method === 'GET' || req.method === 'HEAD') res.redirect(303, '/ui/login');
    else res.status(401).type('html').send(loginPage('Your session has ended: log in again.'));
    return false;
  };
  router.use((req, res, next) => {
    requireSession(req, res).then((ok) => ok && next(), next);
  });

  /** The page or action needs this permission (src/auth/roles.ts): 403 with what to ask for. */
  const allow =
    (permission: Permission): RequestHandler =>
    (req, res, next) => {
      const session = sessionOf(req);
      if (can(session.principal, permission)) return next();
      // An auditor's home is the record: send a GET of the overview there instead of refusing it.
      if (req.method === 'GET' && req.path === '/' && can(session.principal, 'readAudit')) return res.redirect(303, '/ui/report');
      // An admin's is the administration page.
      if (req.method === 'GET' && req.path === '/' && can(session.principal, 'manageTokens')) return res.redirect(303, '/ui/admin');
      res.status(403).type('html').send(messagePage('Not allowed', forbiddenDetail(session.principal, permission), session));
    };

  router.post('/logout', (req, res) => {
    store.destroy(sessionOf(req).id);
    res.set('Set-Cookie', sessionCookie(req, '', 0)).redirect(303, '/ui/login');
  });

  router.get(
    '/',
    allow('readEvents'),
    handle(async (req, res) => {
      const page = (status: 'held' | 'pending' | 'running' | 'waiting' | 'needs_attention' | 'completed', limit = 200) =>
        listEvents(db, { status, limit }).then((result) => result.events);
      const [held, pending, running, waiting, attention, completed] = await Promise.all([
        page('held'),
        page('pending'),
        page('running'),
        page('waiting'),
        page('needs_attention'),
        page('completed', 20),
      ]);
      const inFlight = [...pending, ...running, ...waiting];
      const names = await namesOf(db, [...held, ...inFlight, ...attention, ...completed]);
      const session = sessionOf(req);
      const reconcileRuns = options.reconcile ? await latestRuns(db, 10) : undefined;
      const idleSweeps = await heldIdleSweeps(db);
      const toDo = await targetsToDo(db);
      sendPage(res, session, 'Leavers', overviewBody({ held, inFlight, attention, completed, names, canAct: can(session.principal, 'actOnEvents'), reconcileRuns, idleSweeps, toDo }));
    }),
  );

  router.get(
    '/report',
    allow('readAudit'),
    handle(async (req, res) => {
      const session = sessionOf(req);
      const query = reportQuery.safeParse(req.query);
      const given = query.success ? query.data : {};
      const window = reportWindowSchema.safeParse({ from: given.from || undefined, to: given.to || undefined });
      const error = !query.success || !window.success ? `Invalid window: ${(query.error ?? window.error)?.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}` : undefined;
      const report = await deprovisioningReport(db, { ...(window.success ? window.data : reportWindowSchema.parse({})), slaMs });
      sendPage(res, session, 'SLA report', reportBody(report, given, error), error ? 400 : 200);
    }),
  );

  router.get(
    '/report.csv',
    allow('readAudit'),
    handle(async (req, res) => {
      const window = reportWindowSchema.parse(reportQuery.parse(req.query));
      const report = await deprovisioningReport(db, { ...window, slaMs });
      res.type('text/csv; charset=utf-8').attachment(`deprovisioning-${window.from.toISOString().slice(0, 10)}-${window.to.toISOString().slice(0, 10)}.csv`).send(reportCsv(report));
    }),
  );

  router.get(
    '/evidence',
    allow('readAudit'),
    handle(async (req, res) => {
      const session = sessionOf(req);
      const query = evidenceQuery.safeParse(req.query);
      const subject = query.success ? (query.data.subject ?? '') : '';
      if (!subject) return sendPage(res, session, 'Evidence', evidenceBody(''), query.success ? 200 : 400);
      try {
        const canTerminate = options.intake !== undefined && can(session.principal, 'changePeople');
        sendPage(res, session, 'Evidence', evidenceBody(subject, await buildEvidence(db, subject), undefined, { canTerminate, canBundle: Boolean(options.bundles?.key) }));
      } catch (error) {
        if (!(error instanceof PersonNotFound)) throw error;
        sendPage(res, session, 'Evidence', evidenceBody(subject, undefined, error.message), 404);
      }
    }),
  );

  router.get(
    '/evidence/bundle',
    allow('readAudit'),
    handle(async (req, res) => {
      const session = sessionOf(req);
      const query = evidenceQuery.safeParse(req.query);
      const subject = query.success ? (query.data.subject ?? '') : '';
      const key = options.bundles?.key;
      if (!subject || !key) return sendPage(res, session, 'Evidence', evidenceBody(subject, undefined, key ? 'Name a person.' : 'Evidence bundles need the checkpoint key, and this process has none (JML_CHECKPOINT_KEY).'), key ? 400 : 404);
      try {
        const { zip } = await buildBundle(db, subject, { key, directory: options.bundles!.directory });
        res.type('application/zip').attachment(bundleFileName(subject)).send(zip);
      } catch (error) {
        if (!(error instanceof PersonNotFound) && !(error instanceof BundleError)) throw error;
        sendPage(res, session, 'Evidence', evidenceBody(subject, undefined, error.message), error instanceof PersonNotFound ? 404 : 409);
      }
    }),
  );

  /** Runs an operator action from a form, then back to the overview (or `back`) with what happened. */
  const action = (
    run: (req: Request, by: string, session: Session) => Promise<string>,
    { permission = 'actOnEvents', back = () => '/ui/', backAsync }: { permission?: Permission; back?: (req: Request) => string; backAsync?: (req: Request) => Promise<string> } = {},
  ) => [
    allow(permission),
    form,
    handle(async (req, res) => {
      const session = sessionOf(req);
      try {
        session.flash = { kind: 'ok', text: await run(req, session.principal.name, session) };
      } catch (error) {
        const named = error as { name?: string; message?: string };
        if (error instanceof z.ZodError) session.flash = { kind: 'error', text: `Invalid request: ${error.issues.map((issue) => `${issue.path.join('.') || 'id'} ${issue.message}`).join('; ')}` };
        else if (named.name && OPERATOR_ERRORS.has(named.name)) session.flash = { kind: 'error', text: named.message ?? named.name };
        else throw error;
      }
      res.redirect(303, backAsync ? await backAsync(req) : back(req));
    }),
  ];
  const kick = () => options.onOutboxWritten();
  const eventId = (req: Request) => eventIdSchema.parse(req.params.id);
  const formBody = (req: Request): unknown => (req.body as unknown) ?? {};

  router.post(
    '/events/:id/retry',
    ...action(async (req, by) => {
      const { system } = retryForm.parse(formBody(req));
      const retried = await retryEvent(db, { eventId: eventId(req), system, by, onOutboxWritten: kick });
      return `Retrying ${retried.targets.map((target) => target.system).join(', ')} for event ${retried.eventId} (run ${retried.generation}).`;
    }),
  );
  router.post(
    '/events/:id/approve',
    ...action(async (req, by) => {
      noForm.parse(formBody(req));
      const approved = await approveEvent(db, { eventId: eventId(req), by, onOutboxWritten: kick, approvalsRequired: options.approvalsRequired });
      return approved.released
        ? `Approved event ${approved.eventId}${approved.approvedBy.length > 1 ? ` (approved by ${approved.approvedBy.join(' and ')})` : ''}.`
        : `Recorded your approval of event ${approved.eventId}: it stays held until a different operator approves it too.`;
    }),
  );
  router.post(
    '/events/:id/reject',
    ...action(async (req, by) => {
      const { reason } = rejectForm.parse(formBody(req));
      const rejected = await rejectEvent(db, { eventId: eventId(req), reason: reason || undefined, by, onOutboxWritten: kick });
      return `Rejected event ${rejected.eventId}.`;
    }),
  );
  router.post(
    '/held/approve',
    ...action(async (req, by) => {
      noForm.parse(formBody(req));
      const { approved } = await approveAllHeld(db, { by, onOutboxWritten: kick, approvalsRequired: options.approvalsRequired, massReleaseThreshold: options.massReleaseThreshold });
      const released = approved.filter((event) => event.released).length;
      const waiting = approved.length - released;
      return `Approved ${released} held event${released === 1 ? '' : 's'}${waiting > 0 ? `; ${waiting} wait${waiting === 1 ? 's' : ''} for a different operator's approval` : ''}.`;
    }),
  );

  // Idle sweeps the guard holds (decision 042), decided as `jml idle-sweep approve|reject` does.
  router.post(
    '/idle-sweeps/:workflowId/approve',
    ...action(async (req, by) => {
      noForm.parse(formBody(req));
      const verdict = await decideIdleSweep(db, { workflowId: String(req.params.workflowId), by, approve: true, approvalsRequired: options.approvalsRequired, onOutboxWritten: kick });
      return verdict.outcome === 'released'
        ? `Approved idle sweep ${verdict.workflowId}${verdict.approvedBy.length > 1 ? ` (approved by ${verdict.approvedBy.join(' and ')})` : ''}: it runs within the outbox poll interval.`
        : `Recorded your approval of idle sweep ${verdict.workflowId}: it stays held until a different operator approves it too.`;
    }),
  );
  router.post(
    '/idle-sweeps/:workflowId/reject',
    ...action(async (req, by) => {
      const { reason } = idleSweepRejectSchema.parse(formBody(req));
      const verdict = await decideIdleSweep(db, { workflowId: String(req.params.workflowId), by, approve: false, reason, onOutboxWritten: kick });
      return `Rejected idle sweep ${verdict.workflowId}: nobody is deactivated.`;
    }),
  );

  const reconcile = options.reconcile;
  if (reconcile) {
    const reconcileForm = z.strictObject({ dryRun: z.literal('true').optional() });
    router.post(
      '/reconcile',
      ...action(async (req, by) => {
        const { dryRun } = reconcileForm.parse(formBody(req));
        const requested = await requestReconciliation(db, reconcile, { by, dryRun: dryRun === 'true' });
        kick();
        return `${requested.dryRun ? 'Dry run' : 'Reconciliation'} of ${requested.systems.join(', ')} started; its runs appear below when they finish.`;
      }),
    );
    const findingId = (req: Request) => findingIdSchema.parse(req.params.id);
    const backToRun = async (req: Request) => {
      const finding = await db.reconcileFinding.findUnique({ where: { id: findingIdSchema.parse(req.params.id) }, select: { runId: true } }).catch(() => null);
      return finding ? `/ui/reconcile/runs/${finding.runId}` : '/ui/reconcile';
    };
    router.post(
      '/reconcile/findings/:id/ignore',
      ...action(
        async (req, by) => {
          const { reason } = ignoreSchema.parse(formBody(req));
          const ignored = await ignoreFinding(db, { findingId: findingId(req), by, reason });
          return `Ignored finding ${ignored.id} (${ignored.kind}, account ${ignored.accountId}): it reads as ignored in later runs too.`;
        },
        { backAsync: backToRun },
      ),
    );
    const lifecycle = options.intake?.lifecycle;
    if (lifecycle) {
      router.post(
        '/reconcile/findings/:id/remediate',
        ...action(
          async (req, by) => {
            noForm.parse(formBody(req));
            const remediated = await remediateFinding(db, lifecycle, { findingId: findingId(req), by, onOutboxWritten: kick });
            return `Remediating finding ${remediated.id}: leaver event ${remediated.eventId} deactivates account ${remediated.accountId} in ${remediated.system} (the guard applies).`;
          },
          { backAsync: backToRun },
        ),
      );
    }
  }

  // Reconciliation's runs and findings are part of the record: auditors read them; operators act.
  router.get(
    '/reconcile',
    allow('readAudit'),
    handle(async (req, res) => {
      const session = sessionOf(req);
      sendPage(res, session, 'Reconciliation', reconcileBody(reconcile ? await latestRuns(db, 20) : undefined, can(session.principal, 'actOnEvents')));
    }),
  );
  router.get(
    '/reconcile/runs/:id',
    allow('readAudit'),
    handle(async (req, res) => {
      const session = sessionOf(req);
      const runId = runIdSchema.safeParse(req.params.id);
      const query = findingsQuerySchema.safeParse(req.query);
      if (!runId.success || !query.success) return sendPage(res, session, 'Reconciliation', html`<p class="flash error" role="alert">Invalid run id or filter.</p>`, 400);
      const found = await runFindings(db, runId.data, query.data).catch((error: unknown) => {
        if ((error as { name?: string }).name === 'RunNotFound') return null;
        throw error;
      });
      if (!found) return sendPage(res, session, 'Reconciliation', html`<p class="flash error" role="alert">No reconciliation run ${runId.data}.</p>`, 404);
      const canAct = can(session.principal, 'actOnEvents');
      sendPage(res, session, 'Reconciliation', findingsBody(found.run, found.findings, { canAct, canRemediate: canAct && options.intake !== undefined, kind: query.data.kind, next: found.next }));
    }),
  );

  const intake = options.intake;
  if (intake) {
    router.post(
      '/identities/:id/terminate',
      ...action(
        async (req, _by, session) => {
          const identityId = identityIdSchema.parse(req.params.id);
          const { reason } = terminateSchema.parse(formBody(req));
          const result = await terminateNow(intake, { identityId, reason, principal: session.principal });
          if (result.outcome === 'already_inactive') return `${result.userName} is inactive already: nothing changed.`;
          const superseded = result.supersededTerminationDate ? ` (instead of ${result.supersededTerminationDate})` : '';
          return `Terminated ${result.userName} now${superseded}: every system is being asked to deactivate them.`;
        },
        { permission: 'changePeople', back: (req) => `/ui/evidence?subject=${encodeURIComponent(String(req.params.id))}` },
      ),
    );

    router.get('/hr', allow('changePeople'), (req, res) => sendPage(res, sessionOf(req), 'HR import', hrImportBody()));
    router.post(
      '/hr/import',
      allow('changePeople'),
      handle(async (req, res) => {
        const session = sessionOf(req);
        try {
          const upload = await readUpload(req, { files: { csv: MAX_IMPORT_BYTES, mapping: MAX_MAPPING_BYTES }, fields: ['mode'] });
          const csv = upload.files.csv;
          const mappingFile = upload.files.mapping;
          if (!csv || !mappingFile) throw new UploadRefused(400, 'Choose both files: the CSV export and its mapping');
          const mapping = parseMappingText(mappingFile.content.toString('utf8'), mappingFile.name);
          const report = await importHrChanges(intake, { csv: csv.content, mapping, fileName: csv.name, dryRun: upload.fields.mode !== 'apply', principal: session.principal });
          sendPage(res, session, 'HR import', hrImportBody(report), report.errors.length > 0 ? 422 : 200);
        } catch (error) {
          // The rest of an unread body is dropped; the connection closes instead of being reused.
          if (error instanceof UploadRefused) res.set('Connection', 'close');
          if (error instanceof UploadRefused) return sendPage(res, session, 'HR import', hrImportBody(undefined, error.message), error.status);
          if (error instanceof MappingError || error instanceof CsvFormatError) return sendPage(res, session, 'HR import', hrImportBody(undefined, error.message), 400);
          throw error;
        }
      }),
    );
  }

  // Tokens and settings (src/auth/administration.ts), an admin's only page. A new token's secret is
  // rendered into the answer to the post itself, never kept in the session for a redirect.
  const adminPage = async (req: Request, res: Response, extra: Pick<AdminInput, 'created' | 'error'> = {}, status = 200) => {
    const session = sessionOf(req);
    const tokens = can(session.principal, 'manageTokens') ? await listTokensAs(db, session.principal) : undefined;
    const settings = can(session.principal, 'manageSettings') && options.settings ? await readSettingsAs(db, session.principal, options.settings) : undefined;
    sendPage(res, session, 'Administration', adminBody({ tokens, settings, ...extra }), status);
  };
  router.get('/admin', allow('manageTokens'), handle((req, res) => adminPage(req, res)));
  router.post(
    '/admin/tokens',
    allow('manageTokens'),
    form,
    handle(async (req, res) => {
      const { profile, ...rest } = (formBody(req) ?? {}) as Record<string, unknown>;
      const input = createTokenSchema.safeParse({ ...rest, ...(profile ? { profile } : {}) });
      if (!input.success) return adminPage(req, res, { error: `Invalid token: ${input.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; ')}` }, 400);
      res.set('Cache-Control', 'no-store');
      await adminPage(req, res, { created: await createTokenAs(db, sessionOf(req).principal, input.data) }, 201);
    }),
  );
  router.post(
    '/admin/tokens/:id/revoke',
    ...action(
      async (req, _by, session) => {
        noForm.parse(formBody(req));
        const revoked = await revokeTokenAs(db, session.principal, String(req.params.id));
        return `Revoked the ${revoked.kind} token "${revoked.name}" (${revoked.prefix}…).`;
      },
      { permission: 'manageTokens', back: () => '/ui/admin' },
    ),
  );

  router.use((req: Request, res: Response) => {
    res.status(404).type('html').send(messagePage('Not found', `No page ${req.method} ${req.originalUrl.slice(0, 200)}`, sessions.get(req)));
  });
  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const named = error as { type?: string; status?: number };
    if (named.type && named.status && named.status >= 400 && named.status < 500) {
      res.status(named.status).type('html').send(messagePage('Bad request', 'The form could not be read.', sessions.get(req)));
      return;
    }
    if (error instanceof z.ZodError) {
      res.status(400).type('html').send(messagePage('Bad request', error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`).join('; '), sessions.get(req)));
      return;
    }
    if (toScimError(error).status === 503) {
      logFailure(res, error, 'operator pages: database unavailable', logger);
      res.set('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS));
      res.status(503).type('html').send(messagePage('Unavailable', 'The database is temporarily unavailable; reload in a moment.', sessions.get(req)));
      return;
    }
    logFailure(res, error, 'operator page failed', logger);
    res.status(500).type('html').send(messagePage('Error', 'Internal error; the server log has the details.', sessions.get(req)));
  });
  return router;
}

async function namesOf(db: Database, events: EventView[]): Promise<Names> {
  const ids = [...new Set(events.map((event) => event.identityId))];
  const identities = await db.identity.findMany({ where: { id: { in: ids } }, select: { id: true, userName: true } });
  return new Map(identities.map((identity) => [identity.id, identity.userName]));
}
