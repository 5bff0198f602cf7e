// The HR webhook (issue 16, docs/decisions/026-hr-webhook.md): POST /api/hr/events, for HR systems
// that call a URL per joiner, leaver or mover. Two credentials, both required: a bearer token of
// the `hr` kind (src/auth/roles.ts: it may post HR events and nothing else), checked first as every
// surface checks its tokens, which names the sender in the audit trail; and an HMAC-SHA256 over
// `<timestamp>.<raw body>` with the shared secret JML_HR_WEBHOOK_SECRET, as Stripe and Slack sign
// theirs, which proves the body was not altered and lets a replay be refused. The body is read raw
// and size-limited only after the token, the signature compared in constant time, a timestamp
// older or newer than five minutes refused, and a signature seen before refused as a replay (kept
// in PostgreSQL, src/hr/replay-store.ts, so every API replica refuses it, after restarts too).
// A future effectiveDate schedules a leaver, a mover or a rehire for that date (decision 026).
import { createHmac, timingSafeEqual } from 'node:crypto';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { AuthFailureGuard } from '../auth/failures.js';
import { authenticate, bearerToken, refusalOf } from '../auth/http.js';
import { can, forbiddenDetail } from '../auth/roles.js';
import type { Principal, TokenVerifier } from '../auth/tokens.js';
import type { Logger } from '../logger.js';
import { toScimError } from '../scim/errors.js';
import type { ScimDependencies } from '../scim/users.js';
import type { Identity } from '../generated/prisma/client.js';
import { applyHrValues, describeHrChange, parseDate, scheduleHrValues } from './import.js';
import type { HrValues } from './values.js';
import { identitiesBy } from './person.js';
import { postgresReplayStore, type ReplayStore } from './replay-store.js';

export const TIMESTAMP_HEADER = 'x-jml-timestamp';
export const SIGNATURE_HEADER = 'x-jml-signature';
/** How far a timestamp may be from the server's clock, either way. */
export const SIGNATURE_WINDOW_SECONDS = 300;
const MAX_BODY_BYTES = 16 * 1024;

const text = z.string().trim().min(1).max(500);
export const hrEventSchema = z.strictObject({
  /** The HR system's own id for the event, recorded in the audit trail. */
  id: z.string().trim().min(1).max(200).optional(),
  person: z.strictObject({ attribute: z.enum(['userName', 'email', 'externalId', 'employeeNumber']).default('externalId'), value: text }),
  event: z.enum(['joiner', 'leaver', 'mover']),
  /** ISO 8601 date or date-time; a leaver's defaults to now. */
  effectiveDate: z.string().max(40).optional(),
  department: text.optional(),
  title: text.optional(),
  division: text.optional(),
  organization: text.optional(),
  costCenter: text.optional(),
});
export type HrEvent = z.output<typeof hrEventSchema>;

export interface HrWebhookOptions {
  secret: string;
  /** The token verifier every surface uses; only `hr` tokens may post (src/auth/roles.ts). */
  verifyToken: TokenVerifier;
  intake: ScimDependencies;
  authFailures: AuthFailureGuard;
  logger: Logger;
  now?: () => Date;
  /** Where seen signatures are kept; PostgreSQL (shared by every replica) unless a test gives another. */
  replays?: ReplayStore;
}

/** The signature a sender puts in X-JML-Signature. */
export function signHrEvent(secret: string, timestamp: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

function send(res: Response, status: number, error: string, detail: string, extra: Record<string, unknown> = {}) {
  res.status(status).json({ error, detail, ...extra });
}

/**
 * What the event asks of the person: values to set now, or on a later date (a dated mover or
 * rehire); nothing, with the reason (`unchanged`); or, as a string, why it cannot be done.
 */
type Asked = { values: HrValues; on?: Date } | { unchanged: string } | string;

function askedOf(event: HrEvent, now: Date, person: Identity): Asked {
  const date = event.effectiveDate === undefined ? now : parseDate(event.effectiveDate, { dateOnly: 'startOfDay' });
  if (typeof date === 'string') return `effectiveDate ${date}`;
  const future = date.getTime() > now.getTime();
  const attributes = { department: event.department, title: event.title, division: event.division, organization: event.organization, costCenter: event.costCenter };
  const given = Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined));
  const day = date.toISOString();
  switch (event.event) {
    case 'leaver':
      // A future date schedules the leaver (src/lifecycle/detect.ts); a past one acts now. A
      // person who left already keeps their date unless the event names one: a redelivery is no change.
      if (future) return { values: { terminationDate: date } };
      return { values: !person.active && event.effectiveDate === undefined ? { active: false } : { active: false, terminationDate: date } };
    case 'joiner':
      // People arrive over SCIM; a joiner here re-activates a known person (a rehire), on its
      // date when it names a later one (a pre-hire). Someone active has nothing to re-activate.
      if (future && person.active) return { unchanged: `${person.userName} is active: a joiner dated ${day} re-activates someone who has left, so there is nothing to schedule` };
      return { values: { active: true, terminationDate: null, ...given }, on: future ? date : undefined };
    case 'mover':
      if (Object.keys(given).length === 0) return 'a mover needs at least one of department, title, division, organization, costCenter';
      if (!future) return { values: given };
      if (!person.active) return `${person.userName} is not active: a dated mover applies to someone still working; send a joiner with the new attributes to rehire them`;
      if (person.terminationDate && person.terminationDate > now && person.terminationDate <= date) {
        return `${person.userName} leaves on ${person.terminationDate.toISOString()}, before this mover would take effect on ${day}`;
      }
      return { values: given, on: date };
  }
}

export function createHrWebhookRouter(options: HrWebhookOptions): express.Router {
  const { intake, logger } = options;
  const now = options.now ?? (() => new Date());
  const router = express.Router();
  // Kept twice the window: a signature older than the window is refused for its timestamp anyway.
  const replays = options.replays ?? postgresReplayStore(intake.db, { keepSeconds: 2 * SIGNATURE_WINDOW_SECONDS });

  const principals = new WeakMap<Request, Principal>();

  router.post(
    '/events',
    // The bearer token first, before the body is read: a missing or wrong token costs what it
    // costs on every surface (src/auth/http.ts), and an address past its failure budget nothing.
    (req: Request, res: Response, next: (error?: unknown) => void) => {
      authenticate(req, { realm: 'hr', token: bearerToken(req), guard: options.authFailures, verify: options.verifyToken, refusedReason: 'unknown or revoked token' })
        .then((authentication) => {
          if (authentication.outcome !== 'authenticated') {
            const refusal = refusalOf(authentication, { realm: 'jml-hr', howToGetOne: 'A bearer token of kind hr is required: create one with `npx jml tokens create --name <hr system> --role hr`' });
            res.set(refusal.headers);
            return send(res, refusal.status, refusal.error, refusal.detail);
          }
          const { principal } = authentication;
          if (!can(principal, 'postHrEvents')) return send(res, 403, 'Forbidden', forbiddenDetail(principal, 'postHrEvents'));
          principals.set(req, principal);
          next();
        })
        .catch((error: unknown) => {
          if (toScimError(error).status === 503) return send(res, 503, 'ServiceUnavailable', 'The database is temporarily unavailable; retry later');
          logger.error({ err: error }, 'HR webhook authentication failed');
          send(res, 500, 'InternalError', 'Internal error; the server log has the details');
        });
    },
    // Raw bytes, size-limited before parsing: the signature covers them exactly as sent.
    express.raw({ type: () => true, limit: MAX_BODY_BYTES }),
    (req: Request, res: Response) => {
      const refuse = (reason: string, detail: string) => {
        options.authFailures.failed(req, 'hr', reason);
        res.set('WWW-Authenticate', 'HMAC realm="jml-hr"');
        send(res, 401, 'Unauthorized', detail);
      };
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const timestamp = req.get(TIMESTAMP_HEADER) ?? '';
      const signature = req.get(SIGNATURE_HEADER) ?? '';
      if (!/^\d{1,12}$/.test(timestamp)) return refuse('no timestamp', `${TIMESTAMP_HEADER} must be the signing time in Unix seconds`);
      const skew = Math.abs(now().getTime() / 1000 - Number(timestamp));
      if (skew > SIGNATURE_WINDOW_SECONDS) return refuse('stale timestamp', `${TIMESTAMP_HEADER} is ${Math.round(skew)} s from the server's clock; at most ${SIGNATURE_WINDOW_SECONDS} s are accepted: sign each delivery when sending it`);
      const expected = Buffer.from(signHrEvent(options.secret, timestamp, body), 'utf8');
      const offered = Buffer.from(signature, 'utf8');
      // Constant time: the comparison takes as long however much of the signature is right.
      if (offered.length !== expected.length || !timingSafeEqual(offered, expected)) {
        return refuse('bad signature', `${SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the shared secret>`);
      }
      // Only a correctly signed delivery reaches here, so only a real replay can be refused.
      replays
        .firstSighting(signature)
        .then((first) => {
          if (!first) return send(res, 409, 'Replay', 'This delivery was received before: sign each delivery anew (a new timestamp)');
          return handleEvent(principals.get(req)!, body, timestamp, res);
        })
        .catch((error: unknown) => {
          if (toScimError(error).status === 503) return send(res, 503, 'ServiceUnavailable', 'The database is temporarily unavailable; retry later');
          logger.error({ err: error }, 'HR webhook failed');
          send(res, 500, 'InternalError', 'Internal error; the server log has the details');
        });
    },
  );

  async function handleEvent(principal: Principal, body: Buffer, timestamp: string, res: Response): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return send(res, 400, 'InvalidRequest', 'The body is not JSON');
    }
    const parsed = hrEventSchema.safeParse(json);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((issue) => ({ field: issue.path.join('.') || 'body', message: issue.message }));
      return send(res, 400, 'InvalidRequest', errors.map((entry) => `${entry.field} ${entry.message}`).join('; '), { errors });
    }
    const event = parsed.data;
    const at = now();
    const people = await identitiesBy(intake.db, event.person.attribute, event.person.value);
    if (people.length === 0) return send(res, 404, 'UnknownPerson', `No live identity has ${event.person.attribute} "${event.person.value}": jml learns of people over SCIM first`);
    if (people.length > 1) return send(res, 409, 'AmbiguousPerson', `${people.length} live identities have ${event.person.attribute} "${event.person.value}": name the person by a unique attribute`);
    const person = people[0]!;
    const asked = askedOf(event, at, person);
    if (typeof asked === 'string') return send(res, 422, 'Unprocessable', asked);
    const audit = { action: 'hr.event', data: { hrEventId: event.id ?? null, event: event.event, effectiveDate: event.effectiveDate ?? null, signedAt: Number(timestamp) }, leaving: event.event === 'leaver' };
    const answer = { identityId: person.id, userName: person.userName };
    if ('unchanged' in asked) {
      await applyHrValues(intake, principal, person.id, {}, { action: audit.action, data: { ...audit.data, detail: asked.unchanged } });
      res.json({ ...answer, outcome: 'unchanged', kind: null, effectiveAt: null, detail: asked.unchanged });
      return;
    }
    if (asked.on) {
      // Accepted for later: 202 while it waits for its date (RFC 9110 §15.3.3).
      const scheduled = await scheduleHrValues(intake, principal, person.id, { values: asked.values, effectiveAt: asked.on }, audit);
      const later = scheduled.outcome === 'scheduled' || scheduled.outcome === 'rescheduled';
      // `unchanged` with a kind: the same change is already dated so (a redelivery).
      res.status(later ? 202 : 200).json({ ...answer, outcome: scheduled.outcome, kind: scheduled.kind, effectiveAt: scheduled.kind ? asked.on.toISOString() : null });
      return;
    }
    const change = describeHrChange(person, asked.values, at);
    const applied = await applyHrValues(intake, principal, person.id, asked.values, audit);
    res.json({ ...answer, outcome: applied ? 'applied' : 'unchanged', kind: applied ? (change?.kind ?? null) : null, effectiveAt: applied ? (change?.effectiveAt ?? null) : null });
  }

  // The raw body parser's refusals (too large, an aborted upload) answer in the webhook's own shape.
  router.use((error: { type?: string; status?: number; message?: string }, _req: Request, res: Response, next: (error?: unknown) => void) => {
    if (error.type === 'entity.too.large') return send(res, 413, 'PayloadTooLarge', `The body is larger than ${MAX_BODY_BYTES} bytes`);
    if (error.status && error.status >= 400 && error.status < 500) return send(res, error.status, 'InvalidRequest', error.message ?? 'Bad request');
    next(error);
  });
  return router;
}
