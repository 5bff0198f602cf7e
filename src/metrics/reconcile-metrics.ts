// Reconciliation's metrics (docs/decisions/022-reconciliation.md), read from each system's latest
// finished run at scrape time: the same on every replica, whichever process ran the listing.
import { Gauge, type Registry } from 'prom-client';
import type { Database } from '../db/client.js';

export interface ReconcileMetrics {
  refresh(): Promise<void>;
}

interface LatestRun {
  system: string;
  status: string;
  finishedAt: Date;
  accounts: number;
  drift: number;
  orphans: number;
  disabledActive: number;
  remediated: number;
}

export function createReconcileMetrics(registry: Registry, db: Database): ReconcileMetrics {
  const findings = new Gauge({
    name: 'jml_reconcile_findings',
    help: "Findings of each system's latest reconciliation, by kind: drift (a leaver's account still active), orphan (an active account of nobody), disabled_active (a disabled account of an active person).",
    labelNames: ['system', 'kind'] as const,
    registers: [registry],
  });
  const accounts = new Gauge({ name: 'jml_reconcile_accounts', help: "Accounts listed by each system's latest reconciliation.", labelNames: ['system'] as const, registers: [registry] });
  const complete = new Gauge({
    name: 'jml_reconcile_complete',
    help: "1 when each system's latest reconciliation listed every account, 0 when its listing failed (the counts are then a lower bound).",
    labelNames: ['system'] as const,
    registers: [registry],
  });
  const finished = new Gauge({ name: 'jml_reconcile_last_run_timestamp_seconds', help: "When each system's latest reconciliation finished.", labelNames: ['system'] as const, registers: [registry] });
  const remediated = new Gauge({ name: 'jml_reconcile_remediated', help: "Leaver events started by each system's latest reconciliation.", labelNames: ['system'] as const, registers: [registry] });
  return {
    async refresh() {
      const latest = await db.$queryRaw<LatestRun[]>`
        SELECT DISTINCT ON (system) system, status::text AS status, finished_at AS "finishedAt", accounts, drift, orphans,
          disabled_active AS "disabledActive", remediated
        FROM reconcile_run WHERE finished_at IS NOT NULL ORDER BY system, started_at DESC`;
      for (const run of latest) {
        findings.set({ system: run.system, kind: 'drift' }, run.drift);
        findings.set({ system: run.system, kind: 'orphan' }, run.orphans);
        findings.set({ system: run.system, kind: 'disabled_active' }, run.disabledActive);
        accounts.set({ system: run.system }, run.accounts);
        complete.set({ system: run.system }, run.status === 'complete' ? 1 : 0);
        finished.set({ system: run.system }, run.finishedAt.getTime() / 1000);
        remediated.set({ system: run.system }, run.remediated);
      }
    },
  };
}
