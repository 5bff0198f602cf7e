// Starts the workflows recorded in the outbox and delivers the signals recorded for them. Right
// after a SCIM write commits, the request kicks the relay; a periodic sweep picks up whatever a
// crash or a Temporal outage left behind. A start that races another (two relays, or a crash
// between start and mark) collapses into the existing workflow: ids are deterministic and reuse
// is rejected (docs/decisions/003-outbox.md). Rows for one workflow are handled in order.
//
// Approvals of held leavers are released in waves: an approve signal goes out only while fewer
// than `maxReleasing` events are in flight, so approving 10,000 held leavers at once never puts
// 10,000 workflows' activities on the task queues together (docs/decisions/014-paced-release.md).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Database, Prisma } from '../db/client.js';
import type { Logger } from '../logger.js';
import { LIFECYCLE_WORKFLOW, type LifecycleWorkflowInput } from '../../workflows/contract.js';
import { evaluateGuard, type GuardSettings } from './guard.js';
import { deferUnstarted, holdUnstarted } from './transitions.js';

const BATCH = 100;

interface OutboxRow {
  id: bigint;
  kind: 'start' | 'signal';
  workflow_id: string;
  workflow_type: string | null;
  signal: string | null;
  args: unknown[];
}

interface DrainResult {
  taken: number;
  failed: number;
  /** Rows are left that this pass had no room for: drain again at once. */
  more: boolean;
  /** Approvals waiting for room among the events in flight. */
  deferred: number;
}

export interface OutboxRelayOptions {
  db: Database;
  client: Client;
  taskQueue: string;
  pollMs: number;
  /** Most events in flight before approved leavers wait to be released; 0 releases all at once. */
  maxReleasing?: number;
  /**
   * The mass-deprovision guard, asked before a guarded event's workflow starts: a held event gets no
   * workflow until it is approved, and a dated one none until its date (decision 023). Without it
   * (a relay used alone) the workflows ask the guard and wait for the date themselves.
   */
  guard?: GuardSettings;
  logger: Logger;
}

/** Taken by the relay that releases approvals this pass, so that replicas do not overshoot. */
const RELEASE_LOCK = 0x6a6d6c01;

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Approvals waiting for release at the last pass, to log when a wave starts and ends. */
  private deferred = 0;

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Drain soon: called after a transaction that wrote outbox rows has committed. */
  kick(): void {
    if (this.stopped) return;
    if (this.draining) this.again = true;
    else this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.draining;
  }

  private noteDeferred(deferred: number) {
    const { logger, maxReleasing } = this.options;
    if (deferred > 0 && this.deferred === 0) {
      logger.info({ waiting: deferred, maxInFlight: maxReleasing }, 'approved leavers are released as events in flight finish');
    } else if (deferred === 0 && this.deferred > 0) {
      logger.info('every approved leaver is released');
    }
    this.deferred = deferred;
  }

  private schedule(delayMs: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.runDrain(), delayMs);
  }

  private async runDrain() {
    if (this.draining) return;
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          let batch: DrainResult;
          do batch = await this.drainOnce();
          while (batch.more && batch.failed === 0 && !this.stopped);
          this.noteDeferred(batch.deferred);
          // Failed starts wait for the next poll rather than spinning against a Temporal outage.
          if (batch.failed > 0) break;
        } while (this.again && !this.stopped);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'outbox relay could not start workflows; will retry');
      }
    })();
    await this.draining;
    this.draining = undefined;
    if (!this.stopped) this.schedule(this.options.pollMs);
  }

  /**
   * Delivers up to one batch of outbox rows: starts, signals, and as many approvals as there is
   * room for among the events in flight.
   */
  async drainOnce(): Promise<DrainResult> {
    const { db, client, taskQueue, logger } = this.options;
    return db.$transaction(
      async (tx) => {
        // SKIP LOCKED lets several API replicas relay side by side without double work. A row
        // behind an approval still waiting for release waits too: one workflow's rows stay in order.
        // The approvals waiting come in the same statement, under the release lock, which is
        // taken only when there are any (approvalsToRelease).
        // A start row marked 'held' is an event the guard holds (decision 023): passed over, with the
        // rows behind it, until an approval marks it 'approve' or a cancellation clears the mark. One
        // marked 'waiting' is a dated event: taken (`due`) once its event's effective date has come.
        // One marked 'mass' was released to a mass-release workflow, which begins it (decision 048).
        const now = new Date();
        // A lifecycle start carries its event's effective date as it is now (a held leaver's date
        // may have moved while it waited).
        const taken = await tx.$queryRaw<(OutboxRow & { approval: boolean; effective_at: Date | null })[]>`
          WITH ordinary AS (
            SELECT o.id, o.kind, o.workflow_id, o.workflow_type, o.signal, o.args, false AS approval FROM outbox o
            WHERE o.dispatched_at IS NULL AND (o.signal IS NULL OR o.signal NOT IN ('approve', 'held', 'waiting', 'mass'))
              AND NOT EXISTS (
                SELECT 1 FROM outbox a WHERE a.workflow_id = o.workflow_id AND a.id < o.id
                  AND a.dispatched_at IS NULL AND a.signal IN ('approve', 'held', 'waiting', 'mass'))
            ORDER BY o.id LIMIT ${BATCH} FOR UPDATE OF o SKIP LOCKED),
          due AS (
            SELECT o.id, o.kind, o.workflow_id, o.workflow_type, o.signal, o.args, false AS approval FROM outbox o
            WHERE o.dispatched_at IS NULL AND o.signal = 'waiting'
              AND EXISTS (SELECT 1 FROM lifecycle_event e WHERE e.workflow_id = o.workflow_id AND e.effective_at <= ${now})
            ORDER BY o.id LIMIT ${BATCH} FOR UPDATE OF o SKIP LOCKED),
          release AS MATERIALIZED (
            SELECT pg_try_advisory_xact_lock(${RELEASE_LOCK}) AS locked
            WHERE EXISTS (SELECT 1 FROM outbox WHERE dispatched_at IS NULL AND signal = 'approve')),
          waiting AS (
            SELECT a.id, a.kind, a.workflow_id, a.workflow_type, a.signal, a.args, true AS approval FROM outbox a, release
            WHERE release.locked AND a.dispatched_at IS NULL AND a.signal = 'approve'
            ORDER BY a.id LIMIT ${BATCH + 1} FOR UPDATE OF a SKIP LOCKED),
          taken AS (SELECT * FROM ordinary UNION ALL SELECT * FROM due UNION ALL SELECT * FROM waiting)
          SELECT taken.*, e.effective_at FROM taken LEFT JOIN lifecycle_event e ON taken.kind = 'start' AND e.workflow_id = taken.workflow_id`;
        const held = await this.holdGuarded(tx, taken.filter((row) => !row.approval), now);
        const deferred = await this.deferDated(tx, taken.filter((row) => !held.has(row.id)), now);
        const startable = taken.filter((row) => !held.has(row.id) && !deferred.has(row.id)).map((row) => this.asStarted(row));
        const ordinary = startable.filter((row) => !row.approval);
        const release = await this.approvalsToRelease(tx, startable.filter((row) => row.approval));
        const rows = [...ordinary, ...release.rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        const more = taken.filter((row) => !row.approval).length >= BATCH || release.more;
        if (rows.length === 0) return { taken: 0, failed: 0, more, deferred: release.deferred };
        const deliver = async (row: OutboxRow) => {
          if (row.kind === 'start') {
            try {
              await client.workflow.start(row.workflow_type!, { workflowId: row.workflow_id, taskQueue, args: row.args, workflowIdReusePolicy: 'REJECT_DUPLICATE' });
            } catch (error) {
              if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
            }
            return;
          }
          try {
            await client.workflow.getHandle(row.workflow_id).signal(row.signal!, ...row.args);
          } catch (error) {
            // A workflow that has finished has nothing left to steer: the signal is moot.
            if (!(error instanceof WorkflowNotFoundError)) throw error;
            logger.info({ workflowId: row.workflow_id, signal: row.signal }, 'signal for a finished workflow dropped');
          }
        };
        // Rows of one workflow in order (a start before its signals); workflows side by side.
        const byWorkflow = new Map<string, OutboxRow[]>();
        for (const row of rows) byWorkflow.set(row.workflow_id, [...(byWorkflow.get(row.workflow_id) ?? []), row]);
        const outcome = new Map<bigint, PromiseSettledResult<void>>();
        await Promise.all(
          [...byWorkflow.values()].map(async (group) => {
            for (const row of group) {
              const [result] = await Promise.allSettled([deliver(row)]);
              outcome.set(row.id, result);
              if (result.status === 'rejected') break;
            }
          }),
        );
        const results = rows.map((row) => outcome.get(row.id) ?? { status: 'rejected' as const, reason: 'an earlier row of this workflow failed' });
        const started = rows.filter((_, index) => results[index]?.status === 'fulfilled').map((row) => row.id);
        const failed = rows.filter((_, index) => results[index]?.status === 'rejected');
        if (started.length > 0) {
          await tx.outboxEntry.updateMany({ where: { id: { in: started } }, data: { dispatchedAt: new Date() } });
        }
        for (const row of failed) {
          const reason = results[rows.indexOf(row)] as PromiseRejectedResult;
          await tx.outboxEntry.update({
            where: { id: row.id },
            data: { attempts: { increment: 1 }, lastError: String(reason.reason).slice(0, 2000) },
          });
        }
        if (failed.length > 0) {
          logger.warn({ failed: failed.length }, 'some workflow starts failed; the relay will try again');
        }
        return { taken: rows.length, failed: failed.length, more, deferred: release.deferred };
      },
      { timeout: 60_000 },
    );
  }

  /**
   * Asks the guard about the lifecycle starts taken that should consult it (one count for the
   * drain), and holds their events when it trips: those rows stay in the outbox, marked, and no
   * workflow starts (decision 023). Answers the ids of the rows held.
   */
  private async holdGuarded(tx: Prisma.TransactionClient, rows: OutboxRow[], now: Date): Promise<Set<bigint>> {
    const { guard } = this.options;
    const guarded = rows.filter((row) => lifecycleInput(row)?.guard === true);
    if (!guard || guarded.length === 0) return new Set();
    const counted = await evaluateGuard(tx, guard, now);
    if (!counted.tripped) return new Set();
    const heldEvents = new Set(await holdUnstarted(tx, guarded.map((row) => lifecycleInput(row)!.eventId), counted.verdict, now));
    return new Set(guarded.filter((row) => heldEvents.has(lifecycleInput(row)!.eventId)).map((row) => row.id));
  }

  /**
   * Lifecycle starts whose date is still ahead and that act on no system at once wait without a
   * workflow (decision 023): their events move to waiting and their rows are marked, to be taken
   * again when due. Answers the ids of the rows deferred.
   */
  private async deferDated(tx: Prisma.TransactionClient, rows: (OutboxRow & { effective_at: Date | null })[], now: Date): Promise<Set<bigint>> {
    if (!this.options.guard) return new Set();
    const dated = rows.filter((row) => {
      const input = lifecycleInput(row);
      return input?.effectiveAt !== undefined && !input.immediateSystems?.length && row.signal !== 'waiting' && row.effective_at !== null && row.effective_at > now;
    });
    if (dated.length === 0) return new Set();
    const deferred = new Set(await deferUnstarted(tx, dated.map((row) => lifecycleInput(row)!.eventId), now));
    return new Set(dated.filter((row) => deferred.has(lifecycleInput(row)!.eventId)).map((row) => row.id));
  }

  /**
   * A lifecycle start as it goes out: the guard was asked (above, or by the operator who released
   * it), so the workflow does not ask again, and a dated event carries its date as it is now.
   */
  private asStarted(row: OutboxRow & { approval: boolean; effective_at: Date | null }): OutboxRow & { approval: boolean } {
    const input = lifecycleInput(row);
    if (!input) return row;
    const guardAsked = this.options.guard !== undefined || row.approval;
    const effectiveAt = input.effectiveAt && row.effective_at ? row.effective_at.toISOString() : input.effectiveAt;
    return { ...row, args: [{ ...input, guard: guardAsked ? false : input.guard, effectiveAt }, ...row.args.slice(1)] };
  }

  /**
   * The approvals there is room for, of those `waiting` (read under the release lock). In flight:
   * pending or running events with nothing left in the outbox, which are those whose workflow has
   * its start and its approval. Only one relay releases at a time (a transaction-scoped advisory
   * lock), so replicas share one budget.
   */
  private async approvalsToRelease(tx: Prisma.TransactionClient, waiting: OutboxRow[]): Promise<{ rows: OutboxRow[]; more: boolean; deferred: number }> {
    const limit = this.options.maxReleasing ?? 0;
    // Most passes (every SCIM write kicks one) find no approval and count nothing.
    if (waiting.length === 0) return { rows: [], more: false, deferred: 0 };
    let room = BATCH;
    if (limit > 0) {
      const [{ inFlight }] = await tx.$queryRaw<[{ inFlight: number }]>`
        SELECT count(*)::int AS "inFlight" FROM lifecycle_event e
        WHERE e.status IN ('pending', 'running')
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.workflow_id = e.workflow_id AND o.dispatched_at IS NULL)`;
      room = Math.min(BATCH, Math.max(0, limit - inFlight));
    }
    const rows = waiting.slice(0, room);
    if (waiting.length <= room) return { rows, more: false, deferred: 0 };
    if (room === BATCH) return { rows, more: true, deferred: 0 };
    // Out of room: the rest wait for events in flight to finish. Counted only to log the wave.
    let waitingInAll = waiting.length;
    if (waitingInAll > BATCH) {
      [{ waitingInAll }] = await tx.$queryRaw<[{ waitingInAll: number }]>`
        SELECT count(*)::int AS "waitingInAll" FROM outbox WHERE dispatched_at IS NULL AND signal = 'approve'`;
    }
    return { rows, more: false, deferred: waitingInAll - rows.length };
  }
}

/** The input of a lifecycle workflow's start row; undefined for any other row. */
function lifecycleInput(row: OutboxRow): LifecycleWorkflowInput | undefined {
  if (row.kind !== 'start' || row.workflow_type !== LIFECYCLE_WORKFLOW) return undefined;
  const [input] = row.args as [LifecycleWorkflowInput | undefined];
  return input && typeof input === 'object' ? input : undefined;
}
