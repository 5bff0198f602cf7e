// The audit integrator's metrics (docs/decisions/016-audit-integration.md): how many committed rows
// wait for integration and how long the oldest has waited, read from PostgreSQL at scrape time
// (the same on every replica), and the integration delay, observed by this process's integrator
// for the batches it integrated (sum the histogram over replicas).
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { IntegrationBatch } from '../audit/integrator.js';
import { pendingRows } from '../audit/verify.js';
import type { Database } from '../db/client.js';

export interface AuditMetrics {
  /** For AuditIntegrator's onBatch. */
  observeIntegration(batch: IntegrationBatch): void;
  refresh(): Promise<void>;
}

/** Issue 13's goal is p99 under one second: buckets around it. */
const DELAY_BUCKETS_SECONDS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createAuditMetrics(registry: Registry, db: Database): AuditMetrics {
  const unintegrated = new Gauge({
    name: 'jml_audit_unintegrated_rows',
    help: 'Audit rows committed but not yet linked into the hash chain by the integrator.',
    registers: [registry],
  });
  const oldest = new Gauge({
    name: 'jml_audit_oldest_unintegrated_seconds',
    help: 'Age of the oldest audit row not yet integrated into the hash chain (0 when none).',
    registers: [registry],
  });
  const delay = new Histogram({
    name: 'jml_audit_integration_delay_seconds',
    help: "Time from an audit row's insert to its integration into the hash chain, for the batches this process integrated.",
    buckets: DELAY_BUCKETS_SECONDS,
    registers: [registry],
  });
  return {
    observeIntegration(batch) {
      for (const ms of batch.delaysMs) delay.observe(Math.max(0, ms) / 1000);
    },
    async refresh() {
      const pending = await pendingRows(db);
      unintegrated.set(pending.rows);
      oldest.set(pending.oldestAppendedAt ? Math.max(0, (Date.now() - pending.oldestAppendedAt.getTime()) / 1000) : 0);
    },
  };
}
