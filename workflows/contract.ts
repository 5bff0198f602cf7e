// What the workflows receive and the names they run under. Shared by the workflow bundle and the
// application, so it imports nothing but types: the API, the worker and the CLI (jml events) load
// it without the Temporal SDK (issue 17: the CLI answers in about a second). The signals and
// queries, which need the SDK's definers, are in ./signals.ts, which only workflows import.
import type { LifecycleKind } from '../src/lifecycle/detect.js';
import type { SystemName } from '../src/connectors/types.js';

export type TargetActionKind = 'deactivate' | 'reactivate';

export interface LifecycleTarget {
  system: SystemName;
  action: TargetActionKind;
}

export interface LifecycleWorkflowInput {
  eventId: string;
  kind: LifecycleKind;
  targets: LifecycleTarget[];
  /** Each system's activities run on a task queue of their own: `${queuePrefix}-${system}`. */
  queuePrefix: string;
  /** How long retryable failures are retried before a target is marked "needs attention". */
  retryDeadlineMs: number;
  /** First retry delay and cap of the exponential backoff (defaults: 2 s and 10 min). */
  retryInitialIntervalMs?: number;
  retryMaximumIntervalMs?: number;
  /** When the change takes effect (ISO 8601); the workflow waits durably until then. */
  effectiveAt?: string;
  /** Systems acted on at once even when the change takes effect later ("disable now"). */
  immediateSystems?: SystemName[];
  /** Whether the mass-deprovision guard is consulted before any system is touched. */
  guard?: boolean;
  /** 0 for the event's first run; an operator's retry runs the failed targets again as 1, 2, ... */
  generation?: number;
  /**
   * Systems without a rate limit when the event was recorded: its targets in two or more of them
   * are acted on together, in one activity on the workflow's queue (decision 067). The others run
   * on their system's queue, whose rate limit the Temporal server enforces (decision 005).
   */
  unthrottledSystems?: SystemName[];
}

export const LIFECYCLE_WORKFLOW = 'lifecycleWorkflow';

/**
 * One operator approval that released more held events than JML_MASS_RELEASE_THRESHOLD: a single
 * workflow pages through them (docs/decisions/048-mass-release-lane.md).
 */
export const MASS_RELEASE_WORKFLOW = 'massReleaseWorkflow';

export interface MassReleaseInput {
  /** Names the approval: every event it released carries it in its start row. */
  releaseId: string;
  queuePrefix: string;
  retryDeadlineMs: number;
  retryInitialIntervalMs?: number;
  retryMaximumIntervalMs?: number;
  /** Events per page (default 50), and pages per run before continuing as new (default 10). */
  pageSize?: number;
  pagesPerRun?: number;
  /** Where the previous run stopped: the last event id it paged through. */
  afterEventId?: string;
  /** Events begun by earlier runs, carried across continue-as-new for the result. */
  begun?: number;
  /** Pages begun by earlier runs, carried across continue-as-new: each event's record names its page. */
  pages?: number;
}

export interface MassReleaseResult {
  /** Events this workflow acted on (began and finished). */
  begun: number;
}

/** One account a mass-release page acts on in one system. */
export interface MassPageItem {
  eventId: string;
  action: TargetActionKind;
  generation: number;
}

export function massReleaseWorkflowId(releaseId: string): string {
  return `mass-release-${releaseId}`;
}
export const IDLE_SWEEP_WORKFLOW = 'idleSweepWorkflow';
/** One schedule per deployment: deployments sharing a namespace use different task queues. */
export function idleSweepScheduleId(queuePrefix: string): string {
  return `${queuePrefix}-rocketchat-idle-sweep`;
}

export interface IdleSweepInput {
  daysIdle: number;
  role: string;
  queuePrefix: string;
}

export const RECONCILE_WORKFLOW = 'reconcileWorkflow';
/** One reconciliation schedule per deployment (task queue), like the idle sweep's. */
export function reconcileScheduleId(queuePrefix: string): string {
  return `${queuePrefix}-reconcile`;
}

/** A reconciliation of these systems (docs/decisions/022-reconciliation.md). */
export interface ReconcileInput {
  systems: SystemName[];
  dryRun: boolean;
  /** "schedule", or the operator who asked. */
  trigger: string;
  queuePrefix: string;
}

/** How one system's reconciliation ended (src/reconcile/run.ts's SystemReconciliation). */
export interface ReconcileOutcome {
  system: SystemName;
  runId: string | null;
  status: 'complete' | 'incomplete' | 'not_listable';
  drift: number;
  orphans: number;
  disabledActive: number;
  remediated: number;
}

export type LifecyclePhase = 'starting' | 'held' | 'waiting' | 'acting' | 'done' | 'cancelled';

/** Deterministic and free of personal data: the event id is a random UUID. */
export function workflowIdForEvent(eventId: string, generation = 0): string {
  return generation === 0 ? `lifecycle-${eventId}` : `lifecycle-${eventId}-retry-${generation}`;
}

export function systemTaskQueue(queuePrefix: string, system: SystemName): string {
  return `${queuePrefix}-${system}`;
}

/**
 * A downstream action heartbeats while it runs, so that one whose worker died (or whose result
 * a Temporal restart lost) is retried this long after it was last heard from, rather than when
 * its one-minute attempt limit runs out (docs/decisions/012-recovery-after-outages.md).
 */
export const TARGET_ACTION_HEARTBEAT_TIMEOUT_MS = 20_000;
