// The lifecycle settings from the environment: one reading for the server (src/system.ts) and for
// the commands that change people from a shell (`jml terminate`, `jml hr import`).
import type { Environment } from '../config.js';
import type { SystemName } from '../connectors/types.js';
import type { EntitlementPolicy } from './policy.js';
import type { LifecycleSettings } from './record.js';

/** Each system's JML_RATE_LIMIT_<SYSTEM>; 0 means no limit, and the system is left out. */
export function rateLimitsOf(env: Environment): Partial<Record<SystemName, number>> {
  const limits = { rocketchat: env.JML_RATE_LIMIT_ROCKETCHAT, mendix: env.JML_RATE_LIMIT_MENDIX, userapi: env.JML_RATE_LIMIT_USERAPI };
  return Object.fromEntries(Object.entries(limits).filter(([, limit]) => limit > 0));
}

export function lifecycleSettingsOf(env: Environment, systems: readonly SystemName[], policy: EntitlementPolicy): LifecycleSettings {
  return {
    systems,
    queuePrefix: env.TEMPORAL_TASK_QUEUE,
    retryDeadlineMs: env.JML_RETRY_DEADLINE_MS,
    retryInitialIntervalMs: env.JML_RETRY_INITIAL_MS,
    retryMaximumIntervalMs: env.JML_RETRY_MAX_INTERVAL_MS,
    guard: env.JML_GUARD_ENABLED,
    disableNowSystems: env.JML_DISABLE_NOW_SYSTEMS,
    // The worker enforces the limits on each system's queue (decision 005) from the same variables.
    unthrottledSystems: systems.filter((system) => rateLimitsOf(env)[system] === undefined),
    policy,
  };
}
