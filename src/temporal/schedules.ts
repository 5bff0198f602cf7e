// Temporal Schedules jml keeps: the Rocket.Chat idle-user sweep and reconciliation. Created at start-up, updated when
// the configuration changed, deleted when the sweep is switched off.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { SystemName } from '../connectors/types.js';
import { IDLE_SWEEP_WORKFLOW, idleSweepScheduleId, RECONCILE_WORKFLOW, reconcileScheduleId, type IdleSweepInput, type ReconcileInput } from '../../workflows/contract.js';

type ScheduleSync = 'created' | 'updated' | 'removed' | 'off';

/** Makes the schedule match `options`, or removes it when undefined, so every worker start may call it. */
async function syncSchedule(client: Client, scheduleId: string, options: ScheduleOptions | undefined): Promise<ScheduleSync> {
  const handle = client.schedule.getHandle(scheduleId);
  if (options === undefined) {
    try {
      await handle.delete();
      return 'removed';
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) return 'off';
      throw error;
    }
  }
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await handle.update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies }));
    return 'updated';
  }
}

export interface IdleSweepSettings {
  /** Off when undefined. */
  daysIdle?: number;
  role: string;
  /** Cron expression in UTC. */
  cron: string;
  taskQueue: string;
}

export function syncIdleSweepSchedule(client: Client, settings: IdleSweepSettings): Promise<ScheduleSync> {
  const scheduleId = idleSweepScheduleId(settings.taskQueue);
  if (settings.daysIdle === undefined) return syncSchedule(client, scheduleId, undefined);
  const args: [IdleSweepInput] = [{ daysIdle: settings.daysIdle, role: settings.role, queuePrefix: settings.taskQueue }];
  return syncSchedule(client, scheduleId, {
    scheduleId,
    spec: { cronExpressions: [settings.cron] },
    action: { type: 'startWorkflow', workflowType: IDLE_SWEEP_WORKFLOW, taskQueue: settings.taskQueue, args },
    // A sweep still running when the next is due is not doubled.
    policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
  });
}

export interface ReconcileScheduleSettings {
  /** A Temporal duration ('6h'); off when undefined. */
  interval?: string;
  /** The systems that document a listing. */
  systems: SystemName[];
  taskQueue: string;
}

export function syncReconcileSchedule(client: Client, settings: ReconcileScheduleSettings): Promise<ScheduleSync> {
  const scheduleId = reconcileScheduleId(settings.taskQueue);
  if (settings.interval === undefined || settings.systems.length === 0) return syncSchedule(client, scheduleId, undefined);
  const args: [ReconcileInput] = [{ systems: settings.systems, dryRun: false, trigger: 'schedule', queuePrefix: settings.taskQueue }];
  return syncSchedule(client, scheduleId, {
    scheduleId,
    spec: { intervals: [{ every: settings.interval as `${number}${'s' | 'm' | 'h' | 'd'}` }] },
    action: { type: 'startWorkflow', workflowType: RECONCILE_WORKFLOW, taskQueue: settings.taskQueue, args },
    // A listing still running when the next is due is not doubled.
    policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
  });
}
