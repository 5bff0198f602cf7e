// What an operator may do with reconciliation (the operator API, the page and `jml reconcile`): ask
// for a run now, read the runs and their findings each with what to do about it (an auditor may
// read too), and act on one finding: remediate a drifted leaver through a leaver event, or ignore
// a finding with the reason. Each action is audited; an ignored account stays ignored in later runs. A run asked for here is a workflow start in the outbox, like
// every workflow jml starts, so it runs on the workers with the same retries as the schedule's.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { toJson } from '../audit/canonical.js';
import { appendAudit } from '../audit/append.js';
import { SYSTEMS, type SystemName } from '../connectors/types.js';
import type { Database, Prisma } from '../db/client.js';
import { findingNextStep } from '../lifecycle/next-step.js';
import { operatorNameSchema } from '../lifecycle/operator-name.js';
import type { LifecycleSettings } from '../lifecycle/record.js';
import { RECONCILE_WORKFLOW, type ReconcileInput } from '../../workflows/contract.js';
import { FINDING_KINDS } from './finding-kinds.js';

export const requestSchema = z.strictObject({
  system: z.enum(SYSTEMS).optional(),
  dryRun: z.boolean().default(false),
});

export const findingsQuerySchema = z.strictObject({
  kind: z.enum(FINDING_KINDS).optional(),
  /** The last finding id of the previous page. */
  after: z.coerce.bigint().min(0n).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const runIdSchema = z.uuid({ error: 'must be a reconciliation run id (a UUID)' });

/** Nothing to reconcile: the system asked for does not list its accounts, or is not configured. */
export class NothingToReconcile extends Error {
  override readonly name = 'NothingToReconcile';
}

export class RunNotFound extends Error {
  override readonly name = 'RunNotFound';
}

export class FindingNotFound extends Error {
  override readonly name = 'FindingNotFound';
}

/** The finding cannot take that action (already ignored, not a drift, remediated already, the person is active again). */
export class FindingNotActionable extends Error {
  override readonly name = 'FindingNotActionable';
}

export const findingIdSchema = z.coerce.bigint({ error: 'must be a finding id (a number)' }).min(1n);
export const ignoreSchema = z.strictObject({ reason: z.string().trim().min(1, 'is required: say why this finding is left as it is').max(1000) });

export interface ReconcileSetup {
  /** The configured systems that document a listing. */
  systems: SystemName[];
  queuePrefix: string;
}

export async function requestReconciliation(
  db: Database,
  setup: ReconcileSetup,
  input: { by: string; system?: SystemName; dryRun: boolean },
): Promise<{ workflowId: string; systems: SystemName[]; dryRun: boolean }> {
  const systems = input.system ? setup.systems.filter((system) => system === input.system) : setup.systems;
  if (systems.length === 0) {
    throw new NothingToReconcile(
      input.system ? `${input.system} is not configured or documents no listing of its accounts: it cannot be reconciled` : 'No configured system documents a listing of its accounts',
    );
  }
  const workflowId = `reconcile-${randomUUID()}`;
  const args: [ReconcileInput] = [{ systems, dryRun: input.dryRun, trigger: input.by, queuePrefix: setup.queuePrefix }];
  await db.$transaction(async (tx) => {
    await tx.outboxEntry.create({ data: { kind: 'start', workflowId, workflowType: RECONCILE_WORKFLOW, args: toJson(args) as Prisma.InputJsonValue } });
    await appendAudit(tx, [{ actor: input.by, action: 'operator.reconcile', data: { workflowId, systems, dryRun: input.dryRun } }]);
  });
  return { workflowId, systems, dryRun: input.dryRun };
}

/** Each system's latest runs, newest first. */
export function latestRuns(db: Database, limit = 20) {
  return db.reconcileRun.findMany({ orderBy: { startedAt: 'desc' }, take: limit });
}

interface FindingRow {
  id: bigint;
  runId: string;
  system: string;
  kind: string;
  accountId: string;
  accountActive: boolean;
  identityId: string | null;
  userName: string | null;
  remediation: string | null;
  eventId: string | null;
  ignoredBy: string | null;
  ignoredAt: Date | null;
  ignoredReason: string | null;
}

/** A finding as listed: who it is, what was done, and the next step (null: nothing to do). */
export function findingView(row: FindingRow) {
  const id = row.id.toString();
  return { ...row, id, nextStep: findingNextStep({ ...row, id }) };
}
export type FindingView = ReturnType<typeof findingView>;

/**
 * One run's findings, a page at a time in the order they were found, each with the person's
 * userName and the ignore that covers it: its own, or an earlier run's of the same account and kind.
 */
export async function runFindings(db: Database, runId: string, query: z.output<typeof findingsQuerySchema>) {
  const run = await db.reconcileRun.findUnique({ where: { id: runId } });
  if (!run) throw new RunNotFound(`No reconciliation run ${runId}: list runs with GET /api/reconcile/runs or jml reconcile show`);
  const rows = await db.$queryRaw<FindingRow[]>`
    SELECT f.id, f.run_id AS "runId", f.system, f.kind::text AS kind, f.account_id AS "accountId", f.account_active AS "accountActive",
      f.identity_id AS "identityId", i.user_name AS "userName", f.remediation, f.event_id AS "eventId",
      g.ignored_by AS "ignoredBy", g.ignored_at AS "ignoredAt", g.ignored_reason AS "ignoredReason"
    FROM reconcile_finding f
    LEFT JOIN identity i ON i.id = f.identity_id
    LEFT JOIN LATERAL (
      SELECT p.ignored_by, p.ignored_at, p.ignored_reason FROM reconcile_finding p
      WHERE p.system = f.system AND p.account_id = f.account_id AND p.kind = f.kind AND p.ignored_by IS NOT NULL
      ORDER BY p.ignored_at DESC LIMIT 1) g ON true
    WHERE f.run_id = ${runId}::uuid
      AND (${query.kind ?? null}::text IS NULL OR f.kind::text = ${query.kind ?? null}::text)
      AND f.id > ${query.after ?? 0n}
    ORDER BY f.id LIMIT ${query.limit}`;
  return {
    run,
    findings: rows.map(findingView),
    next: rows.length === query.limit ? rows.at(-1)!.id.toString() : null,
  };
}

async function lockedFinding(tx: Prisma.TransactionClient, findingId: bigint): Promise<FindingRow & { dryRun: boolean; personActive: boolean | null }> {
  const [row] = await tx.$queryRaw<(FindingRow & { dryRun: boolean; personActive: boolean | null })[]>`
    SELECT f.id, f.run_id AS "runId", f.system, f.kind::text AS kind, f.account_id AS "accountId", f.account_active AS "accountActive",
      f.identity_id AS "identityId", i.user_name AS "userName", f.remediation, f.event_id AS "eventId",
      f.ignored_by AS "ignoredBy", f.ignored_at AS "ignoredAt", f.ignored_reason AS "ignoredReason", r.dry_run AS "dryRun",
      (i.active AND i.deleted_at IS NULL AND (i.termination_date IS NULL OR i.termination_date > now())) AS "personActive"
    FROM reconcile_finding f JOIN reconcile_run r ON r.id = f.run_id LEFT JOIN identity i ON i.id = f.identity_id
    WHERE f.id = ${findingId} FOR UPDATE OF f`;
  if (!row) throw new FindingNotFound(`No reconciliation finding ${findingId}: list a run's findings with jml reconcile show <run id>`);
  return row;
}

/** An operator leaves a finding as it is, with the reason: audited, and the same account's finding of that kind in later runs reads as ignored. */
export async function ignoreFinding(db: Database, input: { findingId: bigint; by: string; reason: string }): Promise<FindingView> {
  const by = operatorNameSchema.parse(input.by);
  const { reason } = ignoreSchema.parse({ reason: input.reason });
  return db.$transaction(async (tx) => {
    const finding = await lockedFinding(tx, input.findingId);
    if (finding.ignoredBy) throw new FindingNotActionable(`Finding ${finding.id} was ignored by ${finding.ignoredBy} already: ${finding.ignoredReason ?? ''}`);
    if (finding.eventId) throw new FindingNotActionable(`Finding ${finding.id} is being remediated by event ${finding.eventId}: follow it with jml events show ${finding.eventId}`);
    const ignoredAt = new Date();
    await tx.reconcileFinding.update({ where: { id: finding.id }, data: { ignoredBy: by, ignoredAt, ignoredReason: reason } });
    await appendAudit(tx, [{
      actor: by,
      action: 'operator.reconcile.ignore',
      system: finding.system,
      identityId: finding.identityId ?? undefined,
      data: { findingId: finding.id.toString(), runId: finding.runId, kind: finding.kind, accountId: finding.accountId, reason },
    }], ignoredAt);
    const { dryRun: _dryRun, personActive: _personActive, ...row } = finding;
    return findingView({ ...row, ignoredBy: by, ignoredAt, ignoredReason: reason });
  });
}

/**
 * An operator deactivates one drifted leaver's account now: a leaver event for that system,
 * exactly as JML_RECONCILE_REMEDIATE's (src/reconcile/remediate.ts: the guard, the rate limit, the
 * idempotency key, the read-back). Refused for anything but an unremediated drift of a person who
 * is still a leaver.
 */
export async function remediateFinding(db: Database, settings: LifecycleSettings, input: { findingId: bigint; by: string; onOutboxWritten?: () => void }): Promise<FindingView> {
  const by = operatorNameSchema.parse(input.by);
  // Imported by the one action that writes an event: its transitions reach the SCIM library, which
  // reading findings (`jml reconcile show`) does not load (test/cli/import-graph.test.ts).
  const { lockRemediation, remediateOne } = await import('./remediate.js');
  const view = await db.$transaction(async (tx) => {
    await lockRemediation(tx);
    const finding = await lockedFinding(tx, input.findingId);
    const refuse = (why: string) => new FindingNotActionable(`Finding ${finding.id} cannot be remediated: ${why}`);
    if (finding.kind !== 'drift' || !finding.identityId) throw refuse(`it is ${finding.kind === 'orphan' ? 'an orphan: jml deactivates accounts of people, and this account is nobody\'s' : `a ${finding.kind} finding`}; ${findingNextStep({ ...finding, id: finding.id.toString() }) ?? ''}`);
    if (finding.ignoredBy) throw refuse(`${finding.ignoredBy} ignored it (${finding.ignoredReason ?? ''})`);
    if (finding.eventId) throw refuse(`event ${finding.eventId} deactivates it already (jml events show ${finding.eventId})`);
    if (finding.personActive) throw refuse(`${finding.userName ?? finding.identityId} is active again (a rehire?): there is no leaver to deactivate; run a reconciliation again`);
    const done = await remediateOne(tx, settings, {
      runId: finding.runId,
      system: finding.system as SystemName,
      actor: by,
      now: () => new Date(),
      finding: { id: finding.id, identityId: finding.identityId, accountId: finding.accountId },
    });
    if (!done.eventId) throw refuse(done.skipped!);
    await appendAudit(tx, [{ actor: by, action: 'operator.reconcile.remediate', system: finding.system, identityId: finding.identityId, eventId: done.eventId, data: { findingId: finding.id.toString(), runId: finding.runId, accountId: finding.accountId } }]);
    const { dryRun: _dryRun, personActive: _personActive, ...row } = finding;
    return findingView({ ...row, remediation: 'event', eventId: done.eventId });
  });
  input.onOutboxWritten?.();
  return view;
}
