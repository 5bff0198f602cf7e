// Issue 16: a Bulk request of 1,000 operations (creates, PATCHes with termination dates, leavers)
// survives kill -9 of the API in the middle of it. The answer to the killed request never comes,
// so the client sends the request again once jml is back, as an HR system would; each operation
// changes one person nobody else in the mix touches, so a repeat of what already committed
// changes nothing (test/support/bulk-mix.ts). Afterwards every operation answered 2xx has its
// lifecycle event, none has two, and each leaver was deactivated downstream exactly once.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advertisedBulkLimits, bulkMix, bulkRequests, operationsWithWrongEvents, seedsNeeded, type MixOperation } from '../support/bulk-mix.js';
import { scimClient } from '../support/scim-client.js';
import { countEvents, eventsSince, FAULT_TOKEN, prepareFaultRun, seedPeople, startJmlProcess, waitFor, type FaultRun, type JmlProcess } from './support.js';

const SHAPE = { creates: 400, terminationDates: 300, leavers: 300 };

let run: FaultRun;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('bulk');
});

afterAll(async () => {
  await jml?.stop();
  await run.close();
});

describe('kill -9 of the API during a 1,000-operation Bulk request', () => {
  it('answers every operation 2xx once retried; each has exactly one event, and each leaver acts once downstream', async () => {
    jml = await startJmlProcess(run.env);
    const seeded = await seedPeople(jml.url, run.simulators, 'bulk', seedsNeeded(SHAPE));
    const mix = bulkMix('bulk', seeded, SHAPE);
    expect(mix).toHaveLength(1000);
    const requests = bulkRequests(mix, await advertisedBulkLimits(scimClient(`${jml.url}/scim/v2`, FAULT_TOKEN)));

    const baseline = await countEvents(run.database.query);
    const since = new Date();
    // Kill jml once a third of the mix has committed: the middle of a request (of the only one,
    // when the advertised limits take 1,000 operations at once).
    let eventsAtKill: number | undefined;
    const killer = (async () => {
      await waitFor(async () => (await countEvents(run.database.query)) - baseline >= mix.length / 3, 300_000, 50);
      eventsAtKill = (await countEvents(run.database.query)) - baseline;
      await jml?.kill();
      jml = await startJmlProcess(run.env);
    })();

    const answered = new Map<MixOperation, string>();
    let unanswered = 0;
    for (const request of requests) {
      for (;;) {
        const url = jml.url;
        const answer = await scimClient(`${url}/scim/v2`, FAULT_TOKEN)
          .post<{ Operations: Array<{ status: string }> }>('/Bulk', request.body)
          .catch(() => undefined);
        if (answer) {
          expect(answer.status).toBe(200);
          expect(answer.body.Operations).toHaveLength(request.operations.length);
          request.operations.forEach((operation, index) => answered.set(operation, answer.body.Operations[index]!.status));
          break;
        }
        // No answer: the process died under the request. Send it again once jml is back.
        unanswered += 1;
        await killer;
        await sleep(100);
      }
    }
    await killer;
    expect(unanswered).toBeGreaterThanOrEqual(1);
    // Killed in the middle: some operations had committed, not all.
    expect(eventsAtKill).toBeGreaterThan(0);
    expect(eventsAtKill).toBeLessThan(mix.length);

    const acknowledged = mix.filter((operation) => /^2/.test(answered.get(operation) ?? ''));
    expect(mix.filter((operation) => !acknowledged.includes(operation)).map((operation) => [operation.userName, answered.get(operation)])).toEqual([]);

    // Every operation answered 2xx has its one event; none has two; nobody got anything else.
    const events = await eventsSince(run.database.query, since);
    expect(operationsWithWrongEvents(mix, events)).toEqual([]);
    expect([...events.keys()].filter((userName) => !mix.some((operation) => operation.userName === userName))).toEqual([]);

    // The leavers that take effect now run their course, once each, in every system.
    const leavers = mix.filter((operation) => operation.kind === 'leaver');
    const settled = async () => {
      const [open] = await run.database.query<{ count: string }>(
        `SELECT count(*) FROM lifecycle_event WHERE kind = 'leaver' AND effective_at <= now() AND status <> 'completed'`);
      // A dated leaver's start row stays undispatched, marked 'waiting', until its date (decision 023).
      const [undispatched] = await run.database.query<{ count: string }>(
        `SELECT count(*) FROM outbox WHERE dispatched_at IS NULL AND signal IS DISTINCT FROM 'waiting'`);
      return Number(open!.count) + Number(undispatched!.count) === 0;
    };
    await waitFor(settled, 180_000, 500);
    expect(await settled()).toBe(true);
    const deactivations = new Map<string, number>();
    for (const action of run.simulators.simulators.userapi.actions()) {
      expect(action.action).toBe('deactivate');
      deactivations.set(action.userId, (deactivations.get(action.userId) ?? 0) + 1);
    }
    expect([...deactivations.keys()].sort()).toEqual(leavers.map((operation) => `ext-${operation.userName}`).sort());
    expect([...deactivations.values()].filter((count) => count !== 1)).toEqual([]);
    const inactive = run.simulators.simulators.rocketchat.users().filter((user) => !user.active).map((user) => user.username).sort();
    expect(inactive).toEqual(leavers.map((operation) => operation.userName).sort());
  });
});
