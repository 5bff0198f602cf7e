// CallPace (src/connectors/pace.ts, decision 064): the slot each call gets, read on a clock the test
// sets, so the assertions are on the pace's arithmetic, never on how long anything took.
import { describe, expect, it } from 'vitest';
import { CallPace, pacedConnectors, UNHINTED_PAUSE_MS } from '../../src/connectors/pace.js';
import type { Connector } from '../../src/connectors/types.js';

function paceAt(intervalMs: number) {
  const clock = { now: 0 };
  return { clock, pace: new CallPace(intervalMs, () => clock.now) };
}

describe('CallPace', () => {
  it('spaces calls one interval apart, whoever takes them', async () => {
    const { pace } = paceAt(20);
    expect(await Promise.all([pace.take(), pace.take(), pace.take()])).toEqual([0, 20, 40]);
  });

  it('counts a call noted without waiting, so the next waiting call leaves it room', async () => {
    const { clock, pace } = paceAt(20);
    clock.now = 1000;
    expect(pace.note()).toBe(1000);
    expect(await pace.take()).toBe(1020);
  });

  it("holds every call until a 429's hint and slows by 5 %, once for the calls already on their way", async () => {
    const { clock, pace } = paceAt(20);
    clock.now = 100;
    const sent = await pace.take();
    expect(pace.refused(sent, 30)).toBe(30);
    // A call admitted before the pause: it extends the pause to its own hint and slows nothing.
    clock.now = 110;
    expect(pace.refused(sent, 40)).toBe(40);
    expect(await pace.take()).toBe(150);
    expect(await pace.take()).toBe(171);
  });

  it("pauses for a per-leaver call's 429 without slowing", async () => {
    const { clock, pace } = paceAt(20);
    clock.now = 100;
    expect(pace.refused(pace.note(), 10, false)).toBe(10);
    expect(await pace.take()).toBe(120);
    expect(await pace.take()).toBe(140);
  });

  it('without a hint pauses a second, doubled for each refusal in a row, and an answer resets that', async () => {
    const { clock, pace } = paceAt(0);
    expect(pace.refused(0, undefined)).toBe(UNHINTED_PAUSE_MS);
    clock.now = UNHINTED_PAUSE_MS;
    expect(pace.refused(await pace.take(), undefined)).toBe(2 * UNHINTED_PAUSE_MS);
    clock.now = 10 * UNHINTED_PAUSE_MS;
    pace.answered();
    expect(pace.refused(await pace.take(), undefined)).toBe(UNHINTED_PAUSE_MS);
  });
});

describe('pacedConnectors', () => {
  it("takes a slot of the listing's own count for each page, and one of the lookup count for a lookup of many (decision 066)", async () => {
    const clock = { now: 0 };
    const connector: Connector = {
      system: 'rocketchat',
      lookup: 'ROCKETCHAT_LOOKUP=username:userName',
      rateLimitCounts: { lookup: 'users.info', read: 'users.info', write: 'users.setActiveStatus', list: 'users.list' },
      resolveAccount: () => Promise.resolve('one'),
      resolveAccounts: (people) => Promise.resolve(new Map(people.map((person) => [person.id, `rc-${person.id}`]))),
      deactivate: () => Promise.resolve(),
      reactivate: () => Promise.resolve('reactivated'),
      lookupValueOf: () => null,
      async *listAccounts() {
        for (let page = 0; page < 3; page++) {
          await Promise.resolve();
          yield [{ accountId: `rc-${page}`, active: false, keys: [] }];
        }
      },
    };
    const { waiting, paceOf } = pacedConnectors({ rocketchat: connector }, { rocketchat: 50 }, () => clock.now);
    const pages = [];
    for await (const page of waiting.rocketchat!.listAccounts!()) pages.push(page);
    expect(pages).toHaveLength(3);
    // Three pages and the answer that there are no more: four slots of users.list, none of users.info.
    expect(await paceOf('rocketchat', 'users.list').take()).toBe(80);
    expect(await paceOf('rocketchat', 'users.info').take()).toBe(0);
    const found = await waiting.rocketchat!.resolveAccounts!([{ id: 'a', userName: 'a', externalId: null, email: null, employeeNumber: null, resource: {} }]);
    expect(Object.fromEntries(found)).toEqual({ a: 'rc-a' });
    expect(await paceOf('rocketchat', 'users.info').take()).toBe(40);
  });
});
