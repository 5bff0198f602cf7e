// Issue 16: a Bulk request of 1,000 operations (creates, PATCHes with termination dates, leavers)
// lands exactly as the same 1,000 single requests would. Two jml databases get the same people,
// then one the mix over Bulk (within the limits /ServiceProviderConfig advertises, RFC 7644
// §3.7.4) and the other the same operations one request at a time; their identities, lifecycle
// events, outbox rows and audit rows are then compared person by person.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advertisedBulkLimits, bulkMix, bulkRequests, personData, seedsNeeded, sendSingly, stateByPerson, type SeededPerson } from '../support/bulk-mix.js';
import { inParallel } from '../faults/support.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const SHAPE = { creates: 400, terminationDates: 300, leavers: 300 };

let viaBulk: ScimApp;
let viaSingles: ScimApp;

beforeAll(async () => {
  [viaBulk, viaSingles] = await Promise.all([startScimApp(), startScimApp()]);
});

afterAll(async () => {
  await Promise.all([viaBulk?.close(), viaSingles?.close()]);
});

async function seed(app: ScimApp, count: number): Promise<SeededPerson[]> {
  const people: SeededPerson[] = [];
  await inParallel(Array.from({ length: count }, (_, index) => index), 8, async (index) => {
    const created = await app.scim.post('/Users', personData(`mix${index}`));
    expect(created.status).toBe(201);
    people[index] = { id: created.body.id, userName: `mix${index}`, externalId: `ext-mix${index}` };
  });
  return people;
}

describe('1,000 operations over Bulk and as single requests', () => {
  it('leave the same identities, events, outbox rows and audit rows', async () => {
    const [bulkPeople, singlePeople] = await Promise.all([seed(viaBulk, seedsNeeded(SHAPE)), seed(viaSingles, seedsNeeded(SHAPE))]);
    const overBulk = bulkMix('mix', bulkPeople, SHAPE);
    const overSingles = bulkMix('mix', singlePeople, SHAPE);
    expect(overBulk).toHaveLength(1000);

    const requests = bulkRequests(overBulk, await advertisedBulkLimits(viaBulk.scim));
    let statuses: string[] = [];
    for (const request of requests) {
      // Once more if the connection was reset before any answer: fetch may pick a pooled socket the
      // server is closing after its 5 s keep-alive (seen once here). A repeat of a request that had
      // committed would answer creates 200, not 201, and fail the comparison below.
      const send = () => viaBulk.scim.post<{ Operations: Array<{ status: string }> }>('/Bulk', request.body);
      const answer = await send().catch(send);
      expect(answer.status).toBe(200);
      statuses = [...statuses, ...answer.body.Operations.map((result) => result.status)];
    }
    expect(statuses).toHaveLength(1000);

    const singleStatuses: string[] = [];
    for (const operation of overSingles) singleStatuses.push(String(await sendSingly(viaSingles.scim, operation)));
    // Bulk answers PATCH with the status its single request gets (RFC 7644 §3.7.3).
    expect(statuses).toEqual(singleStatuses);
    expect(statuses.filter((status) => !/^2/.test(status))).toEqual([]);

    const [bulkState, singleState] = await Promise.all([stateByPerson(viaBulk.database.query), stateByPerson(viaSingles.database.query)]);
    expect(bulkState.size).toBe(seedsNeeded(SHAPE) + SHAPE.creates);
    expect(bulkState).toEqual(singleState);
    // And the mix did what it says: one joiner per create, one scheduled leaver per termination date, one leaver per leaver.
    const kinds = [...bulkState.values()].map((person) => (person as { events: Array<{ kind: string; effective: string }> }).events.map((event) => `${event.kind}@${event.effective === 'at once' ? 'now' : 'later'}`).join(','));
    const tally = (text: string) => kinds.filter((entry) => entry === text).length;
    expect([tally('joiner@now'), tally('joiner@now,leaver@later'), tally('joiner@now,leaver@now')]).toEqual([SHAPE.creates, SHAPE.terminationDates, SHAPE.leavers]);
  }, 600_000);
});
