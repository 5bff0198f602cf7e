// Temporal Schedules jml keeps: the Rocket.Chat idle-user sweep. Created at start-up, updated when
// the configuration changed, deleted when the sweep is switched off.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import { IDLE_SWEEP_WORKFLOW, idleSweepScheduleId, type IdleSweepInput } from '../../workflows/contract.js';

export interface IdleSweepSettings {
  /** Off when undefined. */
  daysIdle?: number;
  role: string;
  /** Cron expression in UTC. */
  cron: string;
  taskQueue: string;
}

export async function syncIdleSweepSchedule(client: Client, settings: IdleSweepSettings): Promise<'created' | 'updated' | 'removed' | 'off'> {
  const scheduleId = idleSweepScheduleId(settings.taskQueue);
  const handle = client.schedule.getHandle(scheduleId);
  if (settings.daysIdle === undefined) {
    try {
      await handle.delete();
      return 'removed';
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) return 'off';
      throw error;
    }
  }
  const args: [IdleSweepInput] = [{ daysIdle: settings.daysIdle, role: settings.role, queuePrefix: settings.taskQueue }];
  const options: ScheduleOptions = {
    scheduleId,
    spec: { cronExpressions: [settings.cron] },
    action: { type: 'startWorkflow', workflowType: IDLE_SWEEP_WORKFLOW, taskQueue: settings.taskQueue, args },
    // A sweep still running when the next is due is not doubled.
    policies: { overlap: 'SKIP', catchupWindow: '1 hour' },
  };
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    await handle.update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies }));
    return 'updated';
  }
}
