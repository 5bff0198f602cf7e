// Issue 16 and decision 032: a Bulk request sent with an Idempotency-Key, whose API is killed
// (SIGKILL) in the middle of it, is sent again with the same key once jml is back. The resend
// runs only the operations the journal has no result for, and answers every operation; a third
// send gets the stored answer and runs nothing. Each operation has exactly one lifecycle event.
//
// How "runs only what is left" is seen: every run of a User operation writes one `scim.user.*`
// audit row for its person (created, replaced or unchanged), so a person with two such rows had
// their operation run twice. Operations run one after another, so at most one can have committed
// in the instant before its result was journalled (the window decision 032 names); without the
// key, every operation that committed before the kill (a third of the mix) would run twice.
// Nothing here waits on speed: the kill waits for a state, the resend retries while jml is down
// or still holds the killed run's lock (409), and the assertions read committed rows.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advertisedBulkLimits, bulkMix, bulkRequests, operationsWithWrongEvents, seedsNeeded } from '../support/bulk-mix.js';
import { scimClient } from '../support/scim-client.js';
import { countEvents, eventsSince, FAULT_TOKEN, prepareFaultRun, seedPeople, startJmlProcess, waitFor, type FaultRun, type JmlProcess, type Query } from './support.js';

const SHAPE = { creates: 120, terminationDates: 90, leavers: 90 };

interface BulkAnswer {
  Operations: Array<{ status: string; location?: string }>;
}

let run: FaultRun;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('bulkkey');
});

afterAll(async () => {
  await jml?.stop();
  await run.close();
});

/** How many times each person's SCIM operation ran since `since`: one audit row per run. */
async function runsSince(query: Query, since: Date): Promise<Map<string, number>> {
  const rows = await query<{ user_name: string; runs: string }>(
    `SELECT i.user_name, count(*) AS runs FROM audit_event a JOIN identity i ON i.id = a.identity_id
      WHERE a.occurred_at >= $1 AND a.action LIKE 'scim.user.%' GROUP BY i.user_name`, [since]);
  return new Map(rows.map((row) => [row.user_name, Number(row.runs)]));
}

describe('kill -9 of the API during a Bulk request sent with an Idempotency-Key', () => {
  it('the resend with the same key runs only what was left, a third send gets the stored answer, and no operation has two events', async () => {
    jml = await startJmlProcess(run.env);
    const seeded = await seedPeople(jml.url, run.simulators, 'bulkkey', seedsNeeded(SHAPE));
    const mix = bulkMix('bulkkey', seeded, SHAPE);
    expect(mix).toHaveLength(300);
    const requests = bulkRequests(mix, await advertisedBulkLimits(scimClient(`${jml.url}/scim/v2`, FAULT_TOKEN)));
    expect(requests).toHaveLength(1);
    const [request] = requests;
    const key = `dialect-bulk-kill-${process.pid}`;
    const send = () => scimClient(`${jml!.url}/scim/v2`, FAULT_TOKEN).call<BulkAnswer>('POST', '/Bulk', request!.body, { 'Idempotency-Key': key });

    const baseline = await countEvents(run.database.query);
    const since = new Date();
    let eventsAtKill: number | undefined;
    const killer = (async () => {
      await waitFor(async () => (await countEvents(run.database.query)) - baseline >= mix.length / 3, 300_000, 50);
      eventsAtKill = (await countEvents(run.database.query)) - baseline;
      await jml?.kill();
      jml = await startJmlProcess(run.env);
    })();

    // The first send dies with the process; then the same request, the same key, until answered.
    let unanswered = 0;
    let answer: Awaited<ReturnType<typeof send>> | undefined;
    for (;;) {
      answer = await send().catch(() => undefined);
      // 409: the killed run's advisory lock is not yet released by PostgreSQL; send again.
      if (answer && answer.status !== 409) break;
      if (!answer) unanswered += 1;
      await killer;
      await sleep(200);
    }
    await killer;
    expect(unanswered).toBeGreaterThanOrEqual(1);
    expect(eventsAtKill).toBeGreaterThan(0);
    expect(eventsAtKill).toBeLessThan(mix.length);
    expect(answer.status).toBe(200);
    expect(answer.body.Operations).toHaveLength(mix.length);
    expect(answer.body.Operations.filter((operation) => !/^2/.test(operation.status))).toEqual([]);

    // Only what the journal had no result for ran again: at most the one operation in flight at the kill.
    const runs = await runsSince(run.database.query, since);
    expect(mix.filter((operation) => !runs.has(operation.userName)).map((operation) => operation.userName)).toEqual([]);
    const twice = mix.filter((operation) => (runs.get(operation.userName) ?? 0) > 1).map((operation) => operation.userName);
    expect(twice.length).toBeLessThanOrEqual(1);

    // Every operation has its one event, none has two, nobody else got any.
    const eventsBefore = await countEvents(run.database.query);
    const events = await eventsSince(run.database.query, since);
    expect(operationsWithWrongEvents(mix, events)).toEqual([]);
    expect([...events.keys()].filter((userName) => !mix.some((operation) => operation.userName === userName))).toEqual([]);

    // A third send: the stored answer, word for word, and nothing runs.
    // (SCIM audit rows only: the leavers' workflows keep writing their own meanwhile.)
    const scimAudit = () => run.database.query<{ count: string }>(`SELECT count(*) FROM audit_event WHERE action LIKE 'scim.%'`);
    const auditBefore = await scimAudit();
    const replayed = await send();
    expect(replayed.status).toBe(200);
    expect(replayed.body).toEqual(answer.body);
    expect(await countEvents(run.database.query)).toBe(eventsBefore);
    expect(await scimAudit()).toEqual(auditBefore);
  });
});
