// Reconciliation of one system (issue 14, docs/decisions/022-reconciliation.md): page through the
// accounts its vendor lists (Rocket.Chat users.list, the user API's GET /v1/users), match each page
// to the identities in one statement, and classify what is out of line:
//   drift            a leaver's account still active downstream (remediable),
//   orphan           an active account that matches no identity,
//   disabled_active  a disabled account of a person who is active.
// Memory stays flat: one page is held at a time, findings go to reconcile_finding as they are
// found, counts to reconcile_run and one audit row at the end. A listing that fails part way makes
// the run `incomplete` with the vendor's error, never a clean "no drift".
import { randomUUID } from 'node:crypto';
import { appendAudit } from '../audit/append.js';
import { RetryableDownstreamError } from '../connectors/errors.js';
import type { Connector, ListedAccount, SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import { sqlOf } from '../db/sql.js';
import type { LifecycleSettings } from '../lifecycle/record.js';
import type { Logger } from '../logger.js';
import type { FindingKind } from './finding-kinds.js';
import { matchPage, matchStatement } from './match.js';
import { remediateDrift } from './remediate.js';


/**
 * A `running` run whose last page is older than this was abandoned: its worker died or restarted.
 * The listing activity's heartbeat timeout (workflows/reconcile.ts), past which Temporal too
 * gives the attempt up and retries it as a new run.
 */
export const ABANDONED_AFTER_MS = 2 * 60 * 1000;

export interface ReconcileDependencies {
  db: Database;
  connectors: Partial<Record<SystemName, Connector>>;
  logger: Logger;
  /** What a remediation's leaver event is recorded with; remediation is off without it. */
  lifecycle?: LifecycleSettings;
  now?: () => Date;
  /** Accounts asked for per page (the vendors answer at most 100). */
  pageSize?: number;
  /** Systems jml sends nothing to (JML_DRY_RUN, JML_DRY_RUN_SYSTEMS): their runs are dry runs. */
  dryRun?: (system: SystemName) => boolean;
  /** Called after each page (a Temporal activity heartbeats here). */
  onPage?: (progress: { system: SystemName; accounts: number }) => void;
}

export interface ReconcileRequest {
  system: SystemName;
  /** List, match and report; start nothing. Drift is reported as "would deactivate". */
  dryRun: boolean;
  /** Deactivate drifted leavers through a leaver event each (JML_RECONCILE_REMEDIATE). */
  remediate: boolean;
  /** Who asked: "schedule", "cli", or an operator's name. */
  trigger: string;
  runId?: string;
}

export interface SystemReconciliation {
  runId: string | null;
  system: SystemName;
  /** not_listable: the vendor documents no listing (Mendix), so nothing can be compared. */
  status: 'complete' | 'incomplete' | 'not_listable';
  accounts: number;
  matched: number;
  drift: number;
  orphans: number;
  disabledActive: number;
  remediated: number;
  error: string | null;
  /** The listing failed with an error worth another attempt (a 5xx, a 429 past the waits, the network). */
  retryable: boolean;
}

/** What one listed account is, against the identity it matched (or none). Null: in line. */
export function classify(account: Pick<ListedAccount, 'active'>, personActive: boolean | null): FindingKind | null {
  if (personActive === null) return account.active ? 'orphan' : null;
  if (!personActive) return account.active ? 'drift' : null;
  return account.active ? null : 'disabled_active';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export async function reconcileSystem(deps: ReconcileDependencies, request: ReconcileRequest): Promise<SystemReconciliation> {
  const { db } = deps;
  const { system } = request;
  const now = deps.now ?? (() => new Date());
  const connector = deps.connectors[system];
  const report: SystemReconciliation = { runId: null, system, status: 'complete', accounts: 0, matched: 0, drift: 0, orphans: 0, disabledActive: 0, remediated: 0, error: null, retryable: false };
  if (!connector?.listAccounts) return { ...report, status: 'not_listable', error: `${system} documents no listing of its accounts: it cannot be reconciled` };

  const runId = request.runId ?? randomUUID();
  report.runId = runId;
  const dryRun = request.dryRun || (deps.dryRun?.(system) ?? false);
  const remediate = request.remediate && !dryRun && deps.lifecycle !== undefined;
  const log = deps.logger.child({ system, runId });
  await closeAbandonedRuns(db, { system, now: now(), logger: log });
  await db.reconcileRun.create({ data: { id: runId, system, trigger: request.trigger, dryRun, remediate, startedAt: now(), progressAt: now() } });
  try {
    const statement = matchStatement(connector.lookupAttribute);
    for await (const page of connector.listAccounts({ pageSize: deps.pageSize })) {
      const matches = await matchPage(db, statement, system, page, now());
      const byIndex = new Map(matches.map((match) => [match.index, match]));
      const findings: { kind: FindingKind; account: ListedAccount; identityId: string | null }[] = [];
      page.forEach((account, index) => {
        const match = byIndex.get(index);
        const kind = classify(account, match ? match.personActive : null);
        if (kind) findings.push({ kind, account, identityId: match?.identityId ?? null });
      });
      report.accounts += page.length;
      report.matched += matches.length;
      for (const finding of findings) {
        if (finding.kind === 'drift') report.drift += 1;
        else if (finding.kind === 'orphan') report.orphans += 1;
        else report.disabledActive += 1;
      }
      if (findings.length > 0) {
        await sqlOf(db).query(
          `INSERT INTO reconcile_finding (run_id, system, kind, account_id, account_active, identity_id)
           SELECT $1::uuid, $2, f.kind::reconcile_finding_kind, f.account_id, f.active, f.identity_id::uuid
           FROM unnest($3::text[], $4::text[], $5::bool[], $6::text[]) AS f(kind, account_id, active, identity_id)`,
          [
            runId,
            system,
            findings.map((finding) => finding.kind),
            findings.map((finding) => finding.account.accountId),
            findings.map((finding) => finding.account.active),
            findings.map((finding) => finding.identityId),
          ],
        );
      }
      // The run's sign of life: a run without one for ABANDONED_AFTER_MS is closed by the next.
      await db.reconcileRun.update({ where: { id: runId }, data: { progressAt: now(), accounts: report.accounts } });
      deps.onPage?.({ system, accounts: report.accounts });
    }
  } catch (error) {
    report.status = 'incomplete';
    report.error = messageOf(error);
    report.retryable = error instanceof RetryableDownstreamError;
    log.warn({ err: error, accounts: report.accounts }, 'reconciliation listing failed: the report is incomplete');
  }

  if (dryRun) {
    // A dry run says what remediation would do, to which account, without doing it (issue 14).
    await db.$executeRaw`UPDATE reconcile_finding SET remediation = 'would deactivate account ' || account_id || ' in ' || ${system} WHERE run_id = ${runId}::uuid AND kind = 'drift'`;
  } else if (remediate) {
    // Drift found before a listing failed is real drift: remediated all the same.
    report.remediated = await remediateDrift(db, deps.lifecycle!, { runId, system, actor: `reconcile:${request.trigger}`, now });
  }

  const finishedAt = now();
  const status = report.status === 'incomplete' ? 'incomplete' : 'complete';
  await db.$transaction(async (tx) => {
    await tx.reconcileRun.update({
      where: { id: runId },
      data: {
        status,
        finishedAt,
        accounts: report.accounts,
        matched: report.matched,
        drift: report.drift,
        orphans: report.orphans,
        disabledActive: report.disabledActive,
        remediated: report.remediated,
        error: report.error,
      },
    });
    const { accounts, matched, drift, orphans, disabledActive, remediated, error } = report;
    const counts = { accounts, matched, drift, orphans, disabledActive, remediated, error };
    await appendAudit(tx, [{ actor: `reconcile:${request.trigger}`, action: `reconcile.${status}`, system, data: { runId, dryRun, remediate, ...counts } }], finishedAt);
  });
  log.info({ ...report }, 'reconciliation finished');
  return report;
}

/**
 * Closes runs left `running` by a worker that died (a crash, a restart, a killed container) as
 * `incomplete`, with the reason, the accounts listed before the last page and the findings
 * written so far, and one `reconcile.incomplete` audit row each: a run that never finished must
 * not read as "no drift", nor stay "running" forever. A run that showed progress within
 * ABANDONED_AFTER_MS may still be listing in another process and is left alone. Called when jml
 * starts and before each run; returns the runs closed.
 */
export async function closeAbandonedRuns(db: Database, input: { system?: SystemName; now: Date; logger?: Logger }): Promise<string[]> {
  const before = new Date(input.now.getTime() - ABANDONED_AFTER_MS);
  const abandoned = await db.reconcileRun.findMany({
    where: { status: 'running', system: input.system, OR: [{ progressAt: { lt: before } }, { progressAt: null, startedAt: { lt: before } }] },
    select: { id: true },
  });
  const closed: string[] = [];
  for (const { id } of abandoned) {
    const done = await db.$transaction(async (tx) => {
      // Locked and re-read: two processes starting at once close each run once.
      const [run] = await tx.$queryRaw<{ status: string; system: string; trigger: string; dry_run: boolean; remediate: boolean; accounts: number; progress_at: Date | null; started_at: Date }[]>`
        SELECT status::text AS status, system, trigger, dry_run, remediate, accounts, progress_at, started_at FROM reconcile_run WHERE id = ${id}::uuid FOR UPDATE`;
      if (!run || run.status !== 'running') return false;
      const found = await tx.reconcileFinding.groupBy({ by: ['kind'], where: { runId: id }, _count: { _all: true } });
      const count = (kind: FindingKind) => found.find((row) => row.kind === kind)?._count._all ?? 0;
      const last = run.progress_at ?? run.started_at;
      const error = `abandoned: no progress since ${last.toISOString()} (the worker listing it stopped: a crash or a restart); the counts are what it found before, and a later run lists ${run.system} again`;
      const counts = { accounts: run.accounts, drift: count('drift'), orphans: count('orphan'), disabledActive: count('disabled_active') };
      await tx.reconcileRun.update({ where: { id }, data: { status: 'incomplete', finishedAt: input.now, error, ...counts } });
      await appendAudit(tx, [{
        actor: `reconcile:${run.trigger}`,
        action: 'reconcile.incomplete',
        system: run.system,
        data: { runId: id, dryRun: run.dry_run, remediate: run.remediate, ...counts, matched: null, remediated: 0, error, abandoned: true },
      }], input.now);
      return true;
    });
    if (done) {
      closed.push(id);
      input.logger?.warn({ runId: id }, 'a reconciliation run left running by a stopped worker is closed as incomplete');
    }
  }
  return closed;
}

/** Every configured system that lists its accounts, or the one asked for. */
export async function reconcileSystems(deps: ReconcileDependencies, request: Omit<ReconcileRequest, 'system' | 'runId'> & { system?: SystemName }): Promise<SystemReconciliation[]> {
  const systems = request.system ? [request.system] : (Object.keys(deps.connectors) as SystemName[]);
  const reports: SystemReconciliation[] = [];
  for (const system of systems) reports.push(await reconcileSystem(deps, { ...request, system }));
  return reports;
}
