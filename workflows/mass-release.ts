// The mass-release lane (docs/decisions/048-mass-release-lane.md): one operator approval of more
// held events than JML_MASS_RELEASE_THRESHOLD runs as this one workflow instead of one workflow per
// event. It pages through the approval's events in id order; per page and per system one activity
// on that system's queue acts on every account (applyTargetActions), each with its per-target
// idempotency key, outcome, read-back and audit row as the per-leaver workflow writes them; then
// each event is finished. It continues as new every few pages, carrying the last id, so its
// history stays small however many events the approval released.
import { ActivityFailure, continueAsNew, patched, proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../src/activities/index.js';
import type { SystemName } from '../src/connectors/types.js';
import { TARGET_ACTION_HEARTBEAT_TIMEOUT_MS, type MassPageItem, type MassReleaseInput, type MassReleaseResult } from './contract.js';
import { describeFailure, downstreamActivities } from './lifecycle.js';

type Activities = ReturnType<typeof createActivities>;

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_PAGES_PER_RUN = 10;

// Bookkeeping writes only to PostgreSQL: quick, and retried until the database answers. It
// heartbeats, so an attempt whose worker died is retried within the heartbeat timeout, not after
// the two minutes: with pages overlapped, a finish is often in flight when a worker dies.
const bookkeeping = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: TARGET_ACTION_HEARTBEAT_TIMEOUT_MS,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/** One page's accounts in one system; past the retry deadline, those not settled need attention. */
async function runPage(input: MassReleaseInput, system: SystemName, items: MassPageItem[]): Promise<void> {
  // A page of a slow-limited system (Rocket.Chat's 10 a minute) takes minutes; the heartbeat, not
  // the hour, notices a dead worker. The activity paces its calls to the system's limit.
  const downstream = downstreamActivities(input, system, '1 hour');
  try {
    await downstream.applyTargetActions({ system, items });
  } catch (error) {
    if (!(error instanceof ActivityFailure)) throw error;
    await bookkeeping.markMassTargetsNeedAttention({ system, items, reason: describeFailure(error) });
  }
}

type Page = Awaited<ReturnType<Activities['beginMassPage']>>;

/** Per page and system one activity, every system at once. */
async function runPageInEverySystem(input: MassReleaseInput, batch: Page): Promise<void> {
  const bySystem = new Map<SystemName, MassPageItem[]>();
  for (const event of batch.events) {
    for (const target of event.targets) {
      bySystem.set(target.system, [...(bySystem.get(target.system) ?? []), { eventId: event.eventId, action: target.action, generation: event.generation }]);
    }
  }
  await Promise.all([...bySystem].map(([system, items]) => runPage(input, system, items)));
}

/** The lane as first built: each page begun, acted on and finished before the next one begins. */
async function pageAfterPage(input: MassReleaseInput, pageSize: number, pagesPerRun: number): Promise<MassReleaseResult> {
  let afterEventId = input.afterEventId;
  let begun = input.begun ?? 0;
  for (let page = 0; page < pagesPerRun; page += 1) {
    const batch = await bookkeeping.beginMassPage({ releaseId: input.releaseId, afterEventId, limit: pageSize });
    if (batch.lastEventId === null) return { begun };
    afterEventId = batch.lastEventId;
    if (batch.events.length === 0) continue;
    await runPageInEverySystem(input, batch);
    await bookkeeping.finishMassPage({ eventIds: batch.events.map((event) => event.eventId) });
    begun += batch.events.length;
  }
  return continueAsNew<typeof massReleaseWorkflow>({ ...input, afterEventId, begun });
}

/**
 * Pages overlapped: the next page is begun while this one's accounts are acted on, and a page is
 * finished while the next one's are. Each system still acts on one page at a time, so a system's
 * pace (its rate limit) is what it was; what overlaps is the bookkeeping. A page begun ahead is the
 * next run's first page when the run continues as new (beginMassPage answers it again).
 */
async function pagesOverlapped(input: MassReleaseInput, pageSize: number, pagesPerRun: number): Promise<MassReleaseResult> {
  let afterEventId = input.afterEventId;
  let begun = input.begun ?? 0;
  let pages = input.pages ?? 0;
  const begin = () => bookkeeping.beginMassPage({ releaseId: input.releaseId, afterEventId, limit: pageSize, page: (pages += 1) });
  let finishing: Promise<void> = Promise.resolve();
  let next: Promise<Page> | undefined = begin();
  for (let page = 0; page < pagesPerRun && next; page += 1) {
    const batch: Page = await next;
    if (batch.lastEventId === null) {
      await finishing;
      return { begun };
    }
    afterEventId = batch.lastEventId;
    next = page + 1 < pagesPerRun ? begin() : undefined;
    if (batch.events.length === 0) continue;
    await runPageInEverySystem(input, batch);
    const eventIds = batch.events.map((event) => event.eventId);
    finishing = finishing.then(() => bookkeeping.finishMassPage({ eventIds }));
    begun += batch.events.length;
  }
  await finishing;
  return continueAsNew<typeof massReleaseWorkflow>({ ...input, afterEventId, begun, pages });
}

export async function massReleaseWorkflow(input: MassReleaseInput): Promise<MassReleaseResult> {
  const pageSize = input.pageSize ?? DEFAULT_PAGE_SIZE;
  const pagesPerRun = input.pagesPerRun ?? DEFAULT_PAGES_PER_RUN;
  return patched('mass-release-pages-overlapped') ? pagesOverlapped(input, pageSize, pagesPerRun) : pageAfterPage(input, pageSize, pagesPerRun);
}
