// The one sequencer of the audit chain (docs/decisions/016-audit-integration.md). Audited
// transactions commit their rows unchained; this links committed rows into the hash chain in
// batches, in id order, gap-free, the way a transparency log's sequencer integrates accepted
// entries (Trillian, Tessera). jml_integrate() does a whole batch in one statement under a
// transaction-level advisory lock: one integrator at a time in any number of processes, and a
// crash mid-batch rolls the batch back with the lock.
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { PeriodicPass } from './periodic.js';

export interface IntegrationBatch {
  integrated: number;
  /** Another integrator held the lock: nothing was done. */
  busy: boolean;
  /** The chain head after the batch (null when busy). */
  head: { seq: bigint; hash: string } | null;
  /** Per integrated row, milliseconds from its insert to its integration. */
  delaysMs: number[];
}

export interface AuditIntegratorOptions {
  db: Database;
  /** Rows per batch (one statement). */
  batchSize?: number;
  /** Pause between passes while rows keep arriving. */
  busyMs?: number;
  /** Longest pause when idle: each idle pass doubles the pause from busyMs up to this. */
  idleMs?: number;
  logger?: Logger;
  /** Called after every batch that integrated rows (metrics). */
  onBatch?: (batch: IntegrationBatch) => void;
}

interface IntegrateRow {
  integrated: number;
  busy: boolean;
  head_seq: bigint | null;
  head_hash: string | null;
  delays_ms: number[];
}

export class AuditIntegrator {
  private readonly loop: PeriodicPass;
  private stopped = true;
  private pause: number;
  /** Rows the last pass integrated. */
  private lastIntegrated = 0;
  readonly batchSize: number;

  constructor(private readonly options: AuditIntegratorOptions) {
    this.batchSize = options.batchSize ?? 5000;
    this.pause = options.busyMs ?? 100;
    this.loop = new PeriodicPass(() => this.pass(), this.pause, (error) => this.options.logger?.warn({ err: error }, 'audit integration failed; retrying'));
  }

  /**
   * Whether any committed row waits: one index probe, so an idle pass costs one tiny statement.
   * It reads the last entry of the unique index on seq backwards (NULLs sort last, so a pending
   * row comes first), a plan statistics cannot change: for `EXISTS (... WHERE seq IS NULL)`,
   * statistics taken during a backlog made PostgreSQL scan the whole table once the backlog was
   * gone, 1.4 s per idle pass on 2M rows (docs/decisions/061-audit-append-shape.md).
   */
  async pending(): Promise<boolean> {
    const [row] = await this.options.db.$queryRaw<[{ pending: boolean }]>`
      SELECT EXISTS (SELECT 1 FROM (SELECT seq FROM audit_event ORDER BY seq DESC NULLS FIRST LIMIT 1) last WHERE last.seq IS NULL) AS pending`;
    return row.pending;
  }

  /** One batch: up to batchSize committed rows linked onto the head, in one statement. */
  async integrateOnce(): Promise<IntegrationBatch> {
    const [row] = await this.options.db.$queryRaw<[IntegrateRow]>`
      SELECT integrated, busy, head_seq, head_hash, delays_ms FROM jml_integrate(${this.batchSize}::int)`;
    const batch: IntegrationBatch = {
      integrated: row.integrated,
      busy: row.busy,
      head: row.head_seq === null || row.head_hash === null ? null : { seq: BigInt(row.head_seq), hash: row.head_hash },
      delaysMs: row.delays_ms ?? [],
    };
    if (batch.integrated > 0) this.options.onBatch?.(batch);
    return batch;
  }

  /**
   * Integrates every row committed before the call (and any that commit meanwhile). When another
   * integrator holds the lock, waits for it: its batch is committed or undone when it lets go.
   */
  async integrateAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = await this.integrateOnce();
      total += batch.integrated;
      if (batch.busy) await new Promise((resolve) => setTimeout(resolve, 20));
      else if (batch.integrated < this.batchSize) return total;
    }
  }

  start(): void {
    this.stopped = false;
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop.stop();
  }

  /** One pass of the background loop; answers the pause before the next. */
  private async pass(): Promise<number> {
    const busyMs = this.options.busyMs ?? 100;
    const idleMs = this.options.idleMs ?? 500;
    try {
      // While rows keep arriving the next batch is integrated at once: the probe would only be a
      // second statement per pass. When idle, the probe is the cheaper statement of the two.
      if (this.lastIntegrated > 0 || (await this.pending())) {
        let batch: IntegrationBatch;
        this.lastIntegrated = 0;
        do {
          batch = await this.integrateOnce();
          this.lastIntegrated += batch.integrated;
        } while (!this.stopped && !batch.busy && batch.integrated === this.batchSize);
        this.pause = this.lastIntegrated > 0 || batch.busy ? busyMs : Math.min(idleMs, this.pause * 2);
      } else {
        this.pause = Math.min(idleMs, this.pause * 2);
      }
    } catch (error) {
      // PostgreSQL away or a statement failed: the batch rolled back whole; try again later.
      this.options.logger?.warn({ err: error }, 'audit integration failed; retrying');
      this.lastIntegrated = 0;
      this.pause = idleMs;
    }
    return this.pause;
  }
}
