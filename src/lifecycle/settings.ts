// The lifecycle settings from the environment: one reading for the server (src/system.ts) and for
// the commands that change people from a shell (`jml terminate`, `jml hr import`).
import type { Environment } from '../config.js';
import type { SystemName } from '../connectors/types.js';
import type { EntitlementPolicy } from './policy.js';
import type { LifecycleSettings } from './record.js';

export function lifecycleSettingsOf(env: Environment, systems: readonly SystemName[], policy: EntitlementPolicy): LifecycleSettings {
  return {
    systems,
    queuePrefix: env.TEMPORAL_TASK_QUEUE,
    retryDeadlineMs: env.JML_RETRY_DEADLINE_MS,
    retryInitialIntervalMs: env.JML_RETRY_INITIAL_MS,
    retryMaximumIntervalMs: env.JML_RETRY_MAX_INTERVAL_MS,
    guard: env.JML_GUARD_ENABLED,
    disableNowSystems: env.JML_DISABLE_NOW_SYSTEMS,
    policy,
  };
}
