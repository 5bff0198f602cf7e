// A mass-release page's grouped writes (decision 048) when the answer to a batch is lost after it
// committed (decision 063): the batch is not written again item by item, so no target's outcome or
// read-back is recorded twice; its accounts fail as they would have alone, and the page's retry
// finds them written. Real PostgreSQL, the page run as Temporal runs it (MockActivityEnvironment),
// a fake Rocket.Chat whose reads answer together so that the read-backs go as one batch, and pg's
// pool wrapped so that the first batch of read-backs commits and then loses its connection.
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetActivities } from '../../src/activities/target-action.js';
import type { AccountState, Connector } from '../../src/connectors/types.js';
import { poolOf } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { targetActivitiesForTest } from '../support/target-activities.js';

const ACCOUNTS = 5;

describe('a mass-release page whose batch of read-backs commits and loses its answer', () => {
  let database: TestDatabase;
  let activities: ReturnType<typeof createTargetActivities>;
  const deactivated: string[] = [];
  let reads: Array<() => void> = [];

  const rocketchat: Connector = {
    system: 'rocketchat',
    lookup: 'ROCKETCHAT_LOOKUP=userName',
    resolveAccount: (identity) => Promise.resolve(`rc-${identity.userName}`),
    deactivate: (accountId) => {
      deactivated.push(accountId);
      return Promise.resolve();
    },
    reactivate: () => Promise.resolve('unsupported'),
    lookupValueOf: (identity) => identity.userName,
    // Every account's read answers once all of them asked: their read-backs reach the database together.
    readAccount: (accountId) =>
      new Promise<AccountState>((resolve) => {
        reads.push(() => resolve({ accountId, active: false }));
        if (reads.length === ACCOUNTS) {
          for (const answer of reads) answer();
          reads = [];
        }
      }),
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    activities = targetActivitiesForTest(database.db, { rocketchat });
  });

  afterAll(async () => {
    await database.drop();
  });

  it('records each account once, fails the accounts of the lost batch, and the retry finds them verified', async () => {
    const eventIds: string[] = [];
    for (let index = 0; index < ACCOUNTS; index++) {
      const identity = await database.db.identity.create({ data: { userName: `lost-${index}`, resource: {} } });
      const event = await database.db.lifecycleEvent.create({
        data: { identityId: identity.id, kind: 'leaver', status: 'running', actor: 'okta', effectiveAt: new Date(), workflowId: `wf-lost-${index}`, changes: {} },
      });
      await database.db.targetAction.create({ data: { eventId: event.id, system: 'rocketchat', action: 'deactivate' } });
      eventIds.push(event.id);
    }

    // The read-backs' statement (transitions.ts, recordReadBacks) with more than one account: it
    // runs and commits, then the caller hears what pg says of a connection closed before the answer.
    const pool = await poolOf(database.db);
    const query = pool.query.bind(pool) as unknown as (config: unknown, values?: unknown) => Promise<unknown>;
    let lost = 0;
    (pool as unknown as { query: typeof query }).query = async (config, values) => {
      const answer = await query(config, values);
      const statement = config as { text?: string; values?: unknown[] };
      const batchIds = statement.values?.[0];
      const accounts = Array.isArray(batchIds) ? batchIds.length : 0;
      if (lost === 0 && statement.text?.includes("'read_contradicted'") && accounts > 1) {
        lost = accounts;
        throw new Error('Connection terminated unexpectedly');
      }
      return answer;
    };

    // The first attempt's failure is expected and asserted on below, not printed as a warning.
    const quiet = new DefaultLogger('ERROR');
    const page = { system: 'rocketchat' as const, items: eventIds.map((eventId) => ({ eventId, action: 'deactivate' as const, generation: 0 })) };
    const first = await new MockActivityEnvironment({ attempt: 1 }, { logger: quiet }).run(activities.applyTargetActions, page).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    const retry: unknown = await new MockActivityEnvironment({ attempt: 2 }, { logger: quiet }).run(activities.applyTargetActions, page);

    const verified = await database.query<{ event_id: string; rows: number }>(
      `SELECT event_id::text, count(*)::int AS rows FROM audit_event WHERE action = 'target.deactivate.verified' GROUP BY event_id ORDER BY event_id`,
    );
    expect(lost).toBeGreaterThan(1);
    expect(verified).toEqual([...eventIds].sort().map((eventId) => ({ event_id: eventId, rows: 1 })));
    expect(first).toMatch(new RegExp(`^${lost} of ${ACCOUNTS} accounts in rocketchat failed and will be retried`));
    expect((retry as { status: string }[]).map((result) => result.status)).toEqual(eventIds.map(() => 'verified'));
    expect(deactivated).toHaveLength(ACCOUNTS);
  });
});
