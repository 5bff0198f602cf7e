// What an operator may do with reconciliation (the operator API and page): ask for a run now, and
// read the runs and their findings. A run asked for here is a workflow start in the outbox, like
// every workflow jml starts, so it runs on the workers with the same retries as the schedule's.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { toJson } from '../audit/canonical.js';
import { appendAudit } from '../audit/append.js';
import { SYSTEMS, type SystemName } from '../connectors/types.js';
import type { Database, Prisma } from '../db/client.js';
import { RECONCILE_WORKFLOW, type ReconcileInput } from '../../workflows/contract.js';
import { FINDING_KINDS } from './run.js';

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

/** One run's findings, a page at a time in the order they were found. */
export async function runFindings(db: Database, runId: string, query: z.output<typeof findingsQuerySchema>) {
  const run = await db.reconcileRun.findUnique({ where: { id: runId } });
  if (!run) throw new RunNotFound(`No reconciliation run ${runId}: list runs with GET /api/reconcile/runs`);
  const findings = await db.reconcileFinding.findMany({
    where: { runId, kind: query.kind, id: query.after === undefined ? undefined : { gt: query.after } },
    orderBy: { id: 'asc' },
    take: query.limit,
  });
  return {
    run,
    findings: findings.map((finding) => ({ ...finding, id: finding.id.toString() })),
    next: findings.length === query.limit ? findings.at(-1)!.id.toString() : null,
  };
}
