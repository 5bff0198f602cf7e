// Starts the workflows recorded in the outbox and delivers the signals recorded for them. Right
// after a SCIM write commits, the request kicks the relay; a periodic sweep picks up whatever a
// crash or a Temporal outage left behind. A start that races another (two relays, or a crash
// between start and mark) collapses into the existing workflow: ids are deterministic and reuse
// is rejected (docs/decisions/003-outbox.md). Rows for one workflow are handled in order.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';

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
}

export interface OutboxRelayOptions {
  db: Database;
  client: Client;
  taskQueue: string;
  pollMs: number;
  logger: Logger;
}

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private again = false;
  private stopped = false;

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
          while (batch.taken === BATCH && batch.failed === 0 && !this.stopped);
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

  /** Starts up to one batch of pending workflows. */
  async drainOnce(): Promise<DrainResult> {
    const { db, client, taskQueue, logger } = this.options;
    return db.$transaction(
      async (tx) => {
        // SKIP LOCKED lets several API replicas relay side by side without double work.
        const rows = await tx.$queryRaw<OutboxRow[]>`
          SELECT id, kind, workflow_id, workflow_type, signal, args FROM outbox
          WHERE dispatched_at IS NULL ORDER BY id LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`;
        if (rows.length === 0) return { taken: 0, failed: 0 };
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
        return { taken: rows.length, failed: failed.length };
      },
      { timeout: 60_000 },
    );
  }
}
