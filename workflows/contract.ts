// What the workflows receive and which names they run under. Shared by the workflow bundle and
// the application, so it imports nothing but types.
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
}

export const LIFECYCLE_WORKFLOW = 'lifecycleWorkflow';

/** Deterministic and free of personal data: the event id is a random UUID. */
export function workflowIdForEvent(eventId: string): string {
  return `lifecycle-${eventId}`;
}

export function systemTaskQueue(queuePrefix: string, system: SystemName): string {
  return `${queuePrefix}-${system}`;
}
