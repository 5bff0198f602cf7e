// Starts the workflows recorded in the outbox and delivers the signals recorded for them. Right
// after a SCIM write commits, the request kicks the relay; a periodic sweep picks up whatever a
// crash or a Temporal outage left behind. A start that races another (two relays, or a crash
// between start and mark) collapses into the existing workflow: ids are deterministic and reuse
// is rejected (docs/decisions/003-outbox.md). Rows for one workflow are handled in order.
//
// A pass holds no transaction across its Temporal calls (docs/decisions/018-lifecycle-transitions.md):
// it claims its rows with one statement that gives them a lease (`lease_until`), starts and
// signals, then marks them in one statement. Claimed rows are passed over by every other relay until
// the lease runs out, so a relay killed after claiming loses nothing: its rows are taken again
// after the lease, by another relay or by itself after a restart, and a start it had already
// made collapses into the running workflow.
//
// Approvals of held leavers are released in waves: an approve signal goes out only while fewer
// than `maxReleasing` events are in flight, so approving 10,000 held leavers at once never puts
// 10,000 workflows' activities on the task queues together (docs/decisions/014-paced-release.md).
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Database } from '../db/client.js';
import { sqlOf } from '../db/sql.js';
import type { Logger } from '../logger.js';
import { LIFECYCLE_WORKFLOW, type LifecycleWorkflowInput } from '../../workflows/contract.js';
import { evaluateGuard, type GuardSettings } from './guard.js';
import { deferUnstarted, holdUnstarted } from './transitions.js';

const BATCH = 100;
/**
 * How long a claimed row stays the claiming relay's. A pass's Temporal calls take milliseconds; a
 * lease that runs out under a slow Temporal only means another relay starts the row again, which
 * collapses into the running workflow (a signal may be delivered twice, as after a crash before).
 */
const DEFAULT_LEASE_MS = 30_000;

/** Marks that keep a row (and the rows behind it for its workflow) out of the ordinary pass. */
const MARKS = `('approve', 'held', 'waiting', 'mass')`;
/** A row no relay holds: never claimed, marked, or its claimer's lease ran out. */
const UNLEASED = (alias: string) => `(${alias}.lease_until IS NULL OR ${alias}.lease_until <= now())`;

interface OutboxRow {
  /** int8, as pg reads it. */
  id: string;
  kind: 'start' | 'signal';
  workflow_id: string;
  workflow_type: string | null;
  signal: string | null;
  args: unknown[];
}

/** A row this relay claimed, with the lease that makes it its own and its event's date as it is now. */
export interface ClaimedRow extends OutboxRow {
  lease_until: Date;
  effective_at: Date | null;
  approval: boolean;
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
  /** How long claimed rows stay this relay's (default 30 s). */
  leaseMs?: number;
  logger: Logger;
}

/** Taken by the relay that releases approvals this pass, so that replicas do not overshoot. */
const RELEASE_LOCK = 0x6a6d6c01;

const byId = (a: OutboxRow, b: OutboxRow) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0);

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

  private get leaseMs(): number {
    return this.options.leaseMs ?? DEFAULT_LEASE_MS;
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
   * room for among the events in flight. Two statements when nothing is held, dated or approved:
   * the claim and the mark.
   */
  async drainOnce(): Promise<DrainResult> {
    const now = new Date();
    const claimed = await this.claim(now);
    const release = claimed.approvalsWaiting ? await this.claimApprovals() : { rows: [], more: false, deferred: 0 };
    const taken = [...claimed.rows, ...release.rows];
    const more = claimed.rows.length >= BATCH || release.more;
    if (taken.length === 0) return { taken: 0, failed: 0, more, deferred: release.deferred };
    let parked: Set<string>;
    try {
      parked = await this.holdOrDefer(taken, now);
    } catch (error) {
      // Hand the rows back at once rather than after the lease; if the database is gone, the lease runs out.
      await this.mark(taken.map((row) => ({ row, started: false, error: null }))).catch(() => {});
      throw error;
    }
    const rows = taken.filter((row) => !parked.has(row.id)).map((row) => this.asStarted(row)).sort(byId);
    const results = await this.deliver(rows);
    await this.mark(taken.map((row) => ({ row, started: results.get(row.id)?.status === 'fulfilled', error: errorOf(results.get(row.id)) })));
    const failed = rows.filter((row) => results.get(row.id)?.status !== 'fulfilled').length;
    if (failed > 0) this.options.logger.warn({ failed }, 'some workflow starts failed; the relay will try again');
    return { taken: rows.length, failed, more, deferred: release.deferred };
  }

  /**
   * Claims up to a batch of rows in one statement: each gets a lease that keeps every other relay
   * off it until this pass marks it or the lease runs out (SKIP LOCKED lets relays claim side by
   * side). A row behind a marked or leased row of its workflow waits: one workflow's rows stay in
   * order. A start row marked 'held' is an event the guard holds (decision 023): passed over, with
   * the rows behind it, until an approval marks it 'approve' or a cancellation clears the mark. One
   * marked 'waiting' is a dated event, taken once its event's effective date has come. One marked
   * 'mass' was released to a mass-release workflow, which begins it (decision 048). Approvals are
   * claimed apart (claimApprovals), only when the same statement saw any waiting. A lifecycle start
   * carries its event's effective date as it is now (a held leaver's date may have moved).
   */
  async claim(now: Date): Promise<{ rows: ClaimedRow[]; approvalsWaiting: boolean }> {
    // One row at least: with nothing claimed, its row columns are null and it only says whether approvals wait.
    const found = await sqlOf(this.options.db).query<Omit<ClaimedRow, 'approval' | 'id'> & { id: string | null; approvals_waiting: boolean }>(
      `WITH ordinary AS (
         SELECT o.id FROM outbox o
         WHERE o.dispatched_at IS NULL AND ${UNLEASED('o')} AND (o.signal IS NULL OR o.signal NOT IN ${MARKS})
           AND NOT EXISTS (
             SELECT 1 FROM outbox a WHERE a.workflow_id = o.workflow_id AND a.id < o.id AND a.dispatched_at IS NULL
               AND (a.signal IN ${MARKS} OR NOT ${UNLEASED('a')}))
         ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED),
       due AS (
         SELECT o.id FROM outbox o
         WHERE o.dispatched_at IS NULL AND o.signal = 'waiting' AND ${UNLEASED('o')}
           AND EXISTS (SELECT 1 FROM lifecycle_event e WHERE e.workflow_id = o.workflow_id AND e.effective_at <= $2::timestamptz)
         ORDER BY o.id LIMIT $1 FOR UPDATE OF o SKIP LOCKED),
       claimed AS (
         UPDATE outbox o SET lease_until = now() + make_interval(secs => $3::float8 / 1000)
         WHERE o.id IN (SELECT id FROM ordinary UNION ALL SELECT id FROM due)
         RETURNING o.id::text AS id, o.kind::text AS kind, o.workflow_id, o.workflow_type, o.signal, o.args, o.lease_until)
       SELECT claimed.*, e.effective_at, waiting.approvals_waiting
       FROM (SELECT EXISTS (SELECT 1 FROM outbox w WHERE w.dispatched_at IS NULL AND w.signal = 'approve' AND ${UNLEASED('w')}) AS approvals_waiting) waiting
       LEFT JOIN claimed ON true
       LEFT JOIN lifecycle_event e ON claimed.kind = 'start' AND e.workflow_id = claimed.workflow_id`,
      [BATCH, now, this.leaseMs],
    );
    return {
      rows: found.flatMap(({ id, ...row }) => (id === null ? [] : [{ ...row, id, approval: false }])),
      approvalsWaiting: found[0]?.approvals_waiting ?? false,
    };
  }

  /**
   * Claims the approvals there is room for (decision 014). In flight: pending or running events
   * with no row left in the outbox that no relay holds, which are those whose workflow has its
   * start and its approval, or is being given them. Only one relay counts and claims at a time (a
   * transaction-scoped advisory lock, held for these few statements only), so replicas share one
   * budget: the rows one claims count as in flight for the next.
   */
  private async claimApprovals(): Promise<{ rows: ClaimedRow[]; more: boolean; deferred: number }> {
    const limit = this.options.maxReleasing ?? 0;
    return sqlOf(this.options.db).transaction(async (query) => {
      const [lock] = await query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [RELEASE_LOCK]);
      if (!lock?.locked) return { rows: [], more: false, deferred: 0 };
      let room = BATCH;
      if (limit > 0) {
        const [counted] = await query<{ in_flight: number }>(
          `SELECT count(*)::int AS in_flight FROM lifecycle_event e
           WHERE e.status IN ('pending', 'running')
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.workflow_id = e.workflow_id AND o.dispatched_at IS NULL AND ${UNLEASED('o')})`,
        );
        room = Math.min(BATCH, Math.max(0, limit - (counted?.in_flight ?? 0)));
      }
      const rows =
        room === 0
          ? []
          : await query<Omit<ClaimedRow, 'approval'>>(
              `WITH claimed AS (
                 UPDATE outbox o SET lease_until = now() + make_interval(secs => $2::float8 / 1000)
                 WHERE o.id IN (
                   SELECT a.id FROM outbox a WHERE a.dispatched_at IS NULL AND a.signal = 'approve' AND ${UNLEASED('a')}
                   ORDER BY a.id LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING o.id::text AS id, o.kind::text AS kind, o.workflow_id, o.workflow_type, o.signal, o.args, o.lease_until)
               SELECT claimed.*, e.effective_at FROM claimed
               LEFT JOIN lifecycle_event e ON claimed.kind = 'start' AND e.workflow_id = claimed.workflow_id`,
              [room, this.leaseMs],
            );
      const approvals = rows.map((row) => ({ ...row, approval: true }));
      // Most passes with approvals have room for all of them and count nothing more.
      if (approvals.length < room) return { rows: approvals, more: false, deferred: 0 };
      const [left] = await query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM outbox a WHERE a.dispatched_at IS NULL AND a.signal = 'approve' AND ${UNLEASED('a')}`,
      );
      const waiting = left?.waiting ?? 0;
      if (waiting === 0) return { rows: approvals, more: false, deferred: 0 };
      // A full batch: drain again at once. Out of room: the rest wait for events in flight to finish.
      return room === BATCH ? { rows: approvals, more: true, deferred: 0 } : { rows: approvals, more: false, deferred: waiting };
    });
  }

  /**
   * Asks the guard about the lifecycle starts claimed that should consult it (one count for the
   * pass) and holds their events when it trips; starts whose date is still ahead and that act on
   * no system at once wait without a workflow (decision 023). Those rows stay in the outbox,
   * marked, and no workflow starts. One short transaction, only when there is any of either.
   * Answers the ids of the rows held or deferred.
   */
  private async holdOrDefer(rows: ClaimedRow[], now: Date): Promise<Set<string>> {
    const { db, guard } = this.options;
    if (!guard) return new Set();
    const guarded = rows.filter((row) => !row.approval && lifecycleInput(row)?.guard === true);
    const counted = guarded.length > 0 ? await evaluateGuard(db, guard, now) : { tripped: false as const };
    const toHold = counted.tripped ? guarded : [];
    const dated = rows.filter((row) => {
      const input = lifecycleInput(row);
      return input?.effectiveAt !== undefined && !input.immediateSystems?.length && row.signal !== 'waiting' && row.effective_at !== null && row.effective_at > now;
    });
    if (toHold.length === 0 && dated.length === 0) return new Set();
    const eventOf = (row: OutboxRow) => lifecycleInput(row)!.eventId;
    return db.$transaction(async (tx) => {
      const heldEvents = new Set(counted.tripped ? await holdUnstarted(tx, toHold.map(eventOf), counted.verdict, now) : []);
      const held = new Set(toHold.filter((row) => heldEvents.has(eventOf(row))).map((row) => row.id));
      const toDefer = dated.filter((row) => !held.has(row.id));
      const deferredEvents = new Set(await deferUnstarted(tx, toDefer.map(eventOf), now));
      return new Set([...held, ...toDefer.filter((row) => deferredEvents.has(eventOf(row))).map((row) => row.id)]);
    });
  }

  /** Starts and signals: rows of one workflow in order (a start before its signals); workflows side by side. */
  private async deliver(rows: OutboxRow[]): Promise<Map<string, PromiseSettledResult<void>>> {
    const { client, taskQueue, logger } = this.options;
    const one = async (row: OutboxRow) => {
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
    const byWorkflow = new Map<string, OutboxRow[]>();
    for (const row of rows) byWorkflow.set(row.workflow_id, [...(byWorkflow.get(row.workflow_id) ?? []), row]);
    const outcome = new Map<string, PromiseSettledResult<void>>();
    await Promise.all(
      [...byWorkflow.values()].map(async (group) => {
        for (const row of group) {
          const [result] = await Promise.allSettled([one(row)]);
          outcome.set(row.id, result);
          if (result.status === 'rejected') break;
        }
      }),
    );
    for (const row of rows) if (!outcome.has(row.id)) outcome.set(row.id, { status: 'rejected', reason: 'an earlier row of this workflow failed' });
    return outcome;
  }

  /**
   * Ends this pass's leases in one statement: rows delivered are dispatched, failed ones count an
   * attempt and keep their error, held or deferred ones are only let go. A row whose lease ran out
   * and was claimed again (its lease_until changed) is left to its new claimer.
   */
  private async mark(rows: { row: ClaimedRow; started: boolean; error: string | null }[]): Promise<void> {
    await sqlOf(this.options.db).query(
      `UPDATE outbox o SET
         dispatched_at = CASE WHEN m.started THEN $5::timestamptz ELSE o.dispatched_at END,
         attempts = o.attempts + CASE WHEN m.error IS NULL THEN 0 ELSE 1 END,
         last_error = coalesce(m.error, o.last_error),
         lease_until = NULL
       FROM unnest($1::bigint[], $2::boolean[], $3::text[], $4::timestamptz[]) AS m(id, started, error, lease)
       WHERE o.id = m.id AND o.lease_until = m.lease`,
      [rows.map(({ row }) => row.id), rows.map(({ started }) => started), rows.map(({ error }) => error), rows.map(({ row }) => row.lease_until.toISOString()), new Date()],
    );
  }

  /**
   * A lifecycle start as it goes out: the guard was asked (above, or by the operator who released
   * it), so the workflow does not ask again, and a dated event carries its date as it is now.
   */
  private asStarted(row: ClaimedRow): ClaimedRow {
    const input = lifecycleInput(row);
    if (!input) return row;
    const guardAsked = this.options.guard !== undefined || row.approval;
    const effectiveAt = input.effectiveAt && row.effective_at ? row.effective_at.toISOString() : input.effectiveAt;
    return { ...row, args: [{ ...input, guard: guardAsked ? false : input.guard, effectiveAt }, ...row.args.slice(1)] };
  }
}

/** What a failed delivery stored as the row's last error; null when it did not fail. */
function errorOf(result: PromiseSettledResult<void> | undefined): string | null {
  return result?.status === 'rejected' ? String(result.reason).slice(0, 2000) : null;
}

/** The input of a lifecycle workflow's start row; undefined for any other row. */
function lifecycleInput(row: OutboxRow): LifecycleWorkflowInput | undefined {
  if (row.kind !== 'start' || row.workflow_type !== LIFECYCLE_WORKFLOW) return undefined;
  const [input] = row.args as [LifecycleWorkflowInput | undefined];
  return input && typeof input === 'object' ? input : undefined;
}
