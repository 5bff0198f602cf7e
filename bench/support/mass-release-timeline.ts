// Where a mass release's time went (decision 048), read from its workflow histories (every run of
// the continue-as-new chain): how long some page activity was acting on accounts, how long only
// the bookkeeping (beginning and finishing pages) ran, and how long nothing of the workflow's ran
// at all (workflow tasks, scheduling and the relay's start).
import { Client, Connection } from '@temporalio/client';

export interface MassReleaseTimeline {
  runs: number;
  pageActivities: number;
  /** From the first run's start to the last run's end. */
  spanMs: number;
  /** Some system's page activity (applyTargetActions) was scheduled and not yet closed. */
  actingMs: number;
  /** Only bookkeeping (beginMassPage, finishMassPage) was. */
  bookkeepingOnlyMs: number;
  /** Neither. */
  idleMs: number;
  /**
   * Per system (its task queue's suffix): page activities, their mean time from scheduled to
   * started, and from started to closed, and the highest attempt any of them reached (the started
   * event is written when the activity closes and names its last attempt).
   */
  systems: { system: string; pages: number; meanQueuedMs: number; meanActingMs: number; maxAttempt: number }[];
  /** Per bookkeeping activity type (beginMassPage, finishMassPage): how many, and their mean time from scheduled to closed. */
  bookkeepingSteps: { type: string; count: number; meanMs: number }[];
}

type Interval = [number, number];

/** A history event's time in epoch ms (protobuf's Timestamp: seconds as a Long or a number, and nanos). */
function msOf(time: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined): number {
  const seconds = time?.seconds ?? 0;
  return (typeof seconds === 'number' ? seconds : seconds.toNumber()) * 1000 + (time?.nanos ?? 0) / 1e6;
}

/** The length of the union of the intervals. */
function covered(intervals: Interval[]): number {
  let total = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [from, to] of [...intervals].sort((a, b) => a[0] - b[0])) {
    if (to <= end) continue;
    total += to - Math.max(from, end);
    end = to;
  }
  return total;
}

export async function massReleaseTimeline(address: string, workflowId: string): Promise<MassReleaseTimeline> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const acting: Interval[] = [];
    const bookkeeping: Interval[] = [];
    const perSystem = new Map<string, { pages: number; queuedMs: number; actingMs: number; maxAttempt: number }>();
    const steps = new Map<string, { count: number; totalMs: number }>();
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    let runs = 0;
    for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs += 1;
      const history = await client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      const scheduled = new Map<string, { at: number; type: string; queue: string; startedAt?: number; attempt?: number }>();
      for (const event of history.events ?? []) {
        const at = msOf(event.eventTime);
        first = Math.min(first, at);
        last = Math.max(last, at);
        const type = event.activityTaskScheduledEventAttributes?.activityType?.name;
        if (type) scheduled.set(String(event.eventId), { at, type, queue: event.activityTaskScheduledEventAttributes?.taskQueue?.name ?? '' });
        const startedOf = event.activityTaskStartedEventAttributes?.scheduledEventId;
        const starting = startedOf === undefined || startedOf === null ? undefined : scheduled.get(String(startedOf));
        if (starting) {
          starting.startedAt = at;
          starting.attempt = event.activityTaskStartedEventAttributes?.attempt ?? 1;
        }
        const closedOf =
          event.activityTaskCompletedEventAttributes?.scheduledEventId ??
          event.activityTaskFailedEventAttributes?.scheduledEventId ??
          event.activityTaskTimedOutEventAttributes?.scheduledEventId;
        const opened = closedOf === undefined || closedOf === null ? undefined : scheduled.get(String(closedOf));
        if (opened) (opened.type === 'applyTargetActions' ? acting : bookkeeping).push([opened.at, at]);
        if (opened && opened.type !== 'applyTargetActions') {
          const step = steps.get(opened.type) ?? { count: 0, totalMs: 0 };
          steps.set(opened.type, { count: step.count + 1, totalMs: step.totalMs + (at - opened.at) });
        }
        if (opened?.type === 'applyTargetActions') {
          // The queue is `<prefix>-<system>` (systemTaskQueue).
          const system = opened.queue.slice(opened.queue.lastIndexOf('-') + 1);
          const entry = perSystem.get(system) ?? { pages: 0, queuedMs: 0, actingMs: 0, maxAttempt: 0 };
          const startedAt = opened.startedAt ?? opened.at;
          perSystem.set(system, {
            pages: entry.pages + 1,
            queuedMs: entry.queuedMs + (startedAt - opened.at),
            actingMs: entry.actingMs + (at - startedAt),
            maxAttempt: Math.max(entry.maxAttempt, opened.attempt ?? 1),
          });
        }
      }
    }
    const spanMs = last - first;
    const actingMs = covered(acting);
    const busyMs = covered([...acting, ...bookkeeping]);
    const systems = [...perSystem]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([system, entry]) => ({ system, pages: entry.pages, meanQueuedMs: entry.queuedMs / entry.pages, meanActingMs: entry.actingMs / entry.pages, maxAttempt: entry.maxAttempt }));
    const bookkeepingSteps = [...steps].map(([type, step]) => ({ type, count: step.count, meanMs: step.totalMs / step.count }));
    return { runs, pageActivities: acting.length, spanMs, actingMs, bookkeepingOnlyMs: busyMs - actingMs, idleMs: spanMs - busyMs, systems, bookkeepingSteps };
  } finally {
    await connection.close();
  }
}
