// jml's Prometheus metrics, derived from PostgreSQL at scrape time (docs/decisions/011-metrics.md):
// counters and the time-to-deprovision histogram are folded in from the append-only audit log,
// one seq range at a time, so every replica reports the same totals and a restart loses nothing.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { IntegrationBatch } from '../audit/integrator.js';
import type { Database } from '../db/client.js';
import { createAuditMetrics } from './audit-metrics.js';
import { createReconcileMetrics } from './reconcile-metrics.js';
import { DOCUMENTED_READ, type SystemName } from '../connectors/types.js';

export interface LifecycleMetricsOptions {
  db: Database;
  /** The configured downstream systems: their series exist (at 0) before anything happens. */
  systems: readonly string[];
  /** JML_DEPROVISION_SLA_MS: a histogram bucket boundary, so alerts can count breaches exactly. */
  slaMs: number;
}

export interface LifecycleMetrics {
  registry: Registry;
  /** Folds in what the audit log gained since the last call, then renders every metric. */
  render(): Promise<string>;
  /** The audit integrator's onBatch: the integration delay histogram (decision 016). */
  observeIntegration(batch: IntegrationBatch): void;
}

const EVENT_KINDS = ['joiner', 'mover', 'leaver', 'rehire'] as const;
/** Audit actions that record a call's result; dry runs and needs_attention verdicts call nothing. */
const CALL = /^target\.(deactivate|reactivate)\.(succeeded|verified|read_contradicted|not_found|account_not_found|manual_action_required|attempt_failed)$/;
/** Rows written before the outcome was renamed count under its present name. */
const OUTCOME_RENAMED: Record<string, string> = { account_not_found: 'not_found' };
const DETECTED = /^lifecycle\.(joiner|mover|leaver|rehire)\.detected$/;
const HELD = /^lifecycle\.(leaver|mover)\.held$/;
const OPEN_STATUSES = ['pending', 'needs_attention', 'manual_action_required'] as const;

const HOUR = 3600;
const BUCKETS_SECONDS = [60, 5 * 60, 15 * 60, 30 * 60, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 24 * HOUR, 72 * HOUR, 168 * HOUR];
/** Audit rows read per query: bounds the memory of the first scrape of a long history. */
const CHUNK = 50_000n;

export function createLifecycleMetrics({ db, systems, slaMs }: LifecycleMetricsOptions): LifecycleMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const events = new Counter({
    name: 'jml_lifecycle_events_total',
    help: 'Lifecycle events detected, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const calls = new Counter({
    name: 'jml_downstream_calls_total',
    help: 'Calls to downstream systems, by system, action and outcome (succeeded = accepted, verified = read back, read_contradicted, not_found, manual_action_required, attempt_failed).',
    labelNames: ['system', 'action', 'outcome'] as const,
    registers: [registry],
  });
  const holds = new Counter({
    name: 'jml_guard_holds_total',
    help: 'Leavers and movers losing an entitlement held by the mass-deprovision guard for an operator.',
    registers: [registry],
  });
  const timeToDeprovision = new Histogram({
    name: 'jml_time_to_deprovision_seconds',
    help: "Time from a leaver's due time (the later of its event and effective date) until a system confirmed the account disabled.",
    labelNames: ['system'] as const,
    buckets: [...new Set([...BUCKETS_SECONDS, slaMs / 1000])].sort((a, b) => a - b),
    registers: [registry],
  });
  const timeToVerified = new Histogram({
    name: 'jml_time_to_verified_seconds',
    help: "Time from a leaver's due time until a read of the account showed it disabled (systems with a documented read only).",
    labelNames: ['system'] as const,
    buckets: [...new Set([...BUCKETS_SECONDS, slaMs / 1000])].sort((a, b) => a - b),
    registers: [registry],
  });
  const openTargets = new Gauge({
    name: 'jml_target_actions_open',
    help: 'Target actions not settled yet, by system, action and status (pending includes leavers waiting for their date).',
    labelNames: ['system', 'action', 'status'] as const,
    registers: [registry],
  });

  const audit = createAuditMetrics(registry, db);
  const reconcile = createReconcileMetrics(registry, db);

  const zeroOpenTargets = () => {
    for (const system of systems) for (const status of OPEN_STATUSES) openTargets.set({ system, action: 'deactivate', status }, 0);
  };
  for (const kind of EVENT_KINDS) events.inc({ kind }, 0);
  for (const system of systems) timeToDeprovision.zero({ system });
  for (const system of systems) if (DOCUMENTED_READ[system as SystemName]) timeToVerified.zero({ system });
  holds.inc(0);
  zeroOpenTargets();

  /** The last audit seq folded into the counters. */
  let cursor = 0n;

  async function foldAuditRange(after: bigint, upTo: bigint) {
    const [counts, confirmations] = await Promise.all([
      db.$queryRaw<{ action: string; system: string | null; count: number }[]>`
        SELECT action, system, count(*)::int AS count FROM audit_event
        WHERE seq > ${after} AND seq <= ${upTo} AND (action LIKE 'lifecycle.%' OR action LIKE 'target.%')
        GROUP BY action, system`,
      // The same measure as the report (src/audit/report.ts): the audit row's time is confirmed_at.
      db.$queryRaw<{ system: string; action: string; seconds: number }[]>`
        SELECT a.system, a.action, GREATEST(0, EXTRACT(EPOCH FROM a.occurred_at - GREATEST(e.created_at, e.effective_at)))::float8 AS seconds
        FROM audit_event a JOIN lifecycle_event e ON e.id = a.event_id
        WHERE a.seq > ${after} AND a.seq <= ${upTo} AND a.action IN ('target.deactivate.succeeded', 'target.deactivate.verified') AND e.kind = 'leaver'`,
    ]);
    for (const { action, system, count } of counts) {
      const detected = DETECTED.exec(action);
      const call = CALL.exec(action);
      if (detected) events.inc({ kind: detected[1] }, count);
      else if (HELD.test(action)) holds.inc(count);
      else if (call && system) calls.inc({ system, action: call[1], outcome: OUTCOME_RENAMED[call[2]!] ?? call[2] }, count);
    }
    for (const { system, action, seconds } of confirmations) {
      if (action === 'target.deactivate.verified') timeToVerified.observe({ system }, seconds);
      else timeToDeprovision.observe({ system }, seconds);
    }
  }

  async function refresh() {
    const [head] = await db.$queryRaw<{ seq: bigint }[]>`SELECT seq FROM audit_chain_head WHERE id = 1`;
    // Rows up to the head are committed: the integrator links only committed rows (decision 016).
    const last = head?.seq ?? 0n;
    while (cursor < last) {
      const upTo = cursor + CHUNK < last ? cursor + CHUNK : last;
      await foldAuditRange(cursor, upTo);
      cursor = upTo;
    }
    const open = await db.$queryRaw<{ system: string; action: string; status: string; count: number }[]>`
      SELECT system, action::text AS action, status::text AS status, count(*)::int AS count FROM target_action
      WHERE status IN ('pending', 'needs_attention', 'manual_action_required')
      GROUP BY system, action, status`;
    await audit.refresh();
    await reconcile.refresh();
    // Reset and set without an await in between: a concurrent render never sees the gauge empty.
    openTargets.reset();
    zeroOpenTargets();
    for (const { system, action, status, count } of open) openTargets.set({ system, action, status }, count);
  }

  // Concurrent scrapes share one refresh: folding the same range twice would count it twice.
  let refreshing: Promise<void> | undefined;
  return {
    registry,
    observeIntegration: (batch) => audit.observeIntegration(batch),
    async render() {
      refreshing ??= refresh().finally(() => {
        refreshing = undefined;
      });
      await refreshing;
      return registry.metrics();
    },
  };
}
