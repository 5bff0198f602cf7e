// A mass-release page's calls (decision 066): the page's people looked up in one call where the
// vendor takes many (Mendix's POST /v1/uuids), and its accepted changes read back in one listing
// where that is cheaper than a read each. What the evidence may say stays per account: verified
// only where the listing shows that account inactive; an account it shows active is a contradicted
// read; one it does not show is read alone, and a "no such user" there is not_found. Real
// PostgreSQL, the page run as Temporal runs it (MockActivityEnvironment), fake connectors that
// count their calls.
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetActivities } from '../../src/activities/target-action.js';
import type { AccountState, Connector, IdentitySnapshot, ListedAccount } from '../../src/connectors/types.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { targetActivitiesForTest } from '../support/target-activities.js';

/** lying-*: the write is answered and not applied; gone-*: the listing does not show it and a read finds nobody. */
const PEOPLE = ['ada', 'grace', 'lying-alan', 'gone-edsger', 'unlisted-barbara'];

describe('a mass-release page with a listing and a lookup of many', () => {
  let database: TestDatabase;
  let activities: ReturnType<typeof createTargetActivities>;
  const calls: string[] = [];
  const active = new Map<string, boolean>();

  const userapi: Connector = {
    system: 'userapi',
    lookup: 'USERAPI_ID_ATTRIBUTE=externalId',
    rateLimitCounts: { lookup: null, read: 'api-key', write: 'api-key', list: 'api-key' },
    resolveAccount: (identity) => Promise.resolve(identity.userName),
    deactivate: (accountId) => {
      calls.push(`deactivate ${accountId}`);
      if (!accountId.startsWith('lying-')) active.set(accountId, false);
      return Promise.resolve();
    },
    reactivate: () => Promise.resolve('reactivated'),
    lookupValueOf: (identity) => identity.userName,
    readAccount: (accountId) => {
      calls.push(`read ${accountId}`);
      return Promise.resolve<AccountState | null>(accountId.startsWith('gone-') ? null : { accountId, active: active.get(accountId) ?? true });
    },
    async *listAccounts(options) {
      calls.push('list');
      await Promise.resolve();
      options?.onTotal?.(active.size);
      const shown = [...active].filter(([accountId]) => !accountId.startsWith('gone-') && !accountId.startsWith('unlisted-'));
      yield shown.map(([accountId, state]): ListedAccount => ({ accountId, active: state, keys: [accountId] }));
    },
  };

  const mendix: Connector = {
    system: 'mendix',
    lookup: 'MENDIX_EMAIL_ATTRIBUTE=email',
    resolveAccount: (identity) => {
      calls.push(`lookup ${identity.userName}`);
      return Promise.resolve(`mx-${identity.userName}`);
    },
    resolveAccounts: (people: IdentitySnapshot[]) => {
      calls.push(`lookup ${people.length}`);
      return Promise.resolve(new Map(people.map((person) => [person.id, person.userName.startsWith('gone-') ? null : `mx-${person.userName}`])));
    },
    deactivate: (accountId) => {
      calls.push(`patch ${accountId}`);
      return Promise.resolve();
    },
    reactivate: () => Promise.resolve('unsupported'),
    lookupValueOf: (identity) => identity.email,
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    activities = targetActivitiesForTest(database.db, { userapi, mendix });
  });

  afterAll(async () => {
    await database.drop();
  });

  const identities = new Map<string, string>();

  async function page(system: 'userapi' | 'mendix') {
    const eventIds: string[] = [];
    for (const name of PEOPLE) {
      if (!identities.has(name)) identities.set(name, (await database.db.identity.create({ data: { userName: name, resource: {} } })).id);
      const identity = { id: identities.get(name)! };
      const event = await database.db.lifecycleEvent.create({
        data: { identityId: identity.id, kind: 'leaver', status: 'running', actor: 'okta', effectiveAt: new Date(), workflowId: `wf-${system}-${name}`, changes: {} },
      });
      await database.db.targetAction.create({ data: { eventId: event.id, system, action: 'deactivate' } });
      eventIds.push(event.id);
    }
    return { system, items: eventIds.map((eventId) => ({ eventId, action: 'deactivate' as const, generation: 0 })) };
  }

  it('reads the accepted accounts back in one listing, and verifies only what it shows inactive', async () => {
    for (const name of PEOPLE) active.set(name, true);
    calls.length = 0;
    const quiet = new DefaultLogger('ERROR');
    const input = await page('userapi');
    const outcome = await new MockActivityEnvironment({ attempt: 1 }, { logger: quiet }).run(activities.applyTargetActions, input).then(
      (answer) => answer,
      (error: Error) => error.message,
    );

    // Five writes, then one listing; the two it does not show are read alone.
    expect(calls.slice(0, 5).sort()).toEqual(PEOPLE.map((name) => `deactivate ${name}`).sort());
    expect(calls.slice(5, 6)).toEqual(['list']);
    expect(calls.slice(6).sort()).toEqual(['read gone-edsger', 'read unlisted-barbara']);
    // The lying account's contradicted read fails the page for a retry, as a read alone would.
    expect(outcome).toMatch(/^1 of 5 accounts in userapi failed and will be retried/);

    const rows = await database.query<{ user_name: string; status: string; read_by: string | null }>(
      `SELECT i.user_name, a.action AS status, a.data->>'readBy' AS read_by FROM audit_event a JOIN identity i ON i.id = a.identity_id
       WHERE a.system = 'userapi' AND a.action IN ('target.deactivate.verified', 'target.deactivate.read_contradicted', 'target.deactivate.not_found') ORDER BY i.user_name`,
    );
    expect(rows).toEqual([
      { user_name: 'ada', status: 'target.deactivate.verified', read_by: 'listing' },
      { user_name: 'gone-edsger', status: 'target.deactivate.not_found', read_by: null },
      { user_name: 'grace', status: 'target.deactivate.verified', read_by: 'listing' },
      { user_name: 'lying-alan', status: 'target.deactivate.read_contradicted', read_by: 'listing' },
      { user_name: 'unlisted-barbara', status: 'target.deactivate.verified', read_by: null },
    ]);
    // One write per account, whatever the reads said.
    expect(calls.filter((call) => call.startsWith('deactivate'))).toHaveLength(PEOPLE.length);
  });

  it("looks the page's people up in one call, and a person it answers null for is not found", async () => {
    calls.length = 0;
    const input = await page('mendix');
    const answer: unknown = await new MockActivityEnvironment({ attempt: 1 }).run(activities.applyTargetActions, input);

    expect(calls[0]).toBe('lookup 5');
    expect(calls.slice(1).sort()).toEqual(PEOPLE.filter((name) => !name.startsWith('gone-')).map((name) => `patch mx-${name}`).sort());
    expect((answer as { status: string }[]).map((result) => result.status)).toEqual(PEOPLE.map((name) => (name.startsWith('gone-') ? 'not_found' : 'succeeded')));
  });
});
