// An event's targets in systems without a rate limit, acted on in one activity (decision 067),
// against the real database, run as Temporal runs an activity (MockActivityEnvironment). Each
// target is acted on as the lean target action acts on it (test/activities/lean-target-action.test.ts):
// once, with its own records, the last to settle ending the event. What one activity for several
// systems adds: a system that fails retryably fails the activity only after the others are
// settled, and the retry acts on that one alone; a system that fails for good needs attention
// while the others go ahead; a settled target stays settled when the workflow gives up on the rest.
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetActivities, finalOutcomeOf, type LeanTargetResult } from '../../src/activities/target-action.js';
import { PermanentDownstreamError, RetryableDownstreamError } from '../../src/connectors/errors.js';
import type { AccountState, Connector, SystemName } from '../../src/connectors/types.js';
import { markTargetNeedsAttention } from '../../src/lifecycle/transitions.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { fakeConnector, targetActivitiesForTest } from '../support/target-activities.js';

const SYSTEMS: SystemName[] = ['rocketchat', 'mendix', 'userapi'];

describe('targets acted on together', () => {
  let database: TestDatabase;
  let activities: ReturnType<typeof createTargetActivities>;
  let connectors: Record<SystemName, Connector>;
  const calls: string[] = [];
  const inactive = new Set<string>();
  /** The next deactivation of these accounts fails: once and retryably, or for good. */
  const writeFaults = new Map<string, 'retry-once' | 'refused'>();

  function connector(system: SystemName, readable: boolean): Connector {
    const deactivate = (accountId: string) => {
      calls.push(`deactivate ${accountId}`);
      const fault = writeFaults.get(accountId);
      if (fault === 'retry-once') {
        writeFaults.delete(accountId);
        return Promise.reject(new RetryableDownstreamError('the vendor answered 503', { system, status: 503 }));
      }
      if (fault === 'refused') return Promise.reject(new PermanentDownstreamError('the vendor answered 403', { system, status: 403 }));
      inactive.add(accountId);
      return Promise.resolve();
    };
    const read = (accountId: string): Promise<AccountState> => Promise.resolve({ accountId, active: !inactive.has(accountId) });
    return fakeConnector(system, { deactivate, ...(readable ? { read } : {}) });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    connectors = { rocketchat: connector('rocketchat', true), mendix: connector('mendix', false), userapi: connector('userapi', true) };
    activities = targetActivitiesForTest(database.db, connectors);
  });

  afterAll(async () => {
    await database.drop();
  });

  let counter = 0;
  async function leaver(userName: string) {
    const { id } = await database.db.identity.create({ data: { userName, resource: {} } });
    const event = await database.db.lifecycleEvent.create({
      data: { identityId: id, kind: 'leaver', status: 'pending', actor: 'okta', effectiveAt: new Date(), workflowId: `wf-together-${counter++}`, changes: {} },
    });
    for (const system of SYSTEMS) await database.db.targetAction.create({ data: { eventId: event.id, system, action: 'deactivate', status: 'pending' } });
    return event.id;
  }
  const run = (eventId: string, attempt = 1): Promise<LeanTargetResult[]> =>
    new MockActivityEnvironment({ attempt }).run(activities.applyLeanTargetsTogether, {
      eventId,
      generation: 0,
      targets: SYSTEMS.map((system) => ({ system, action: 'deactivate' as const })),
    });
  const statuses = async (eventId: string) =>
    Object.fromEntries(
      (await database.query<{ system: string; status: string }>(`SELECT system, status FROM target_action WHERE event_id = $1`, [eventId])).map((row) => [row.system, row.status]),
    );
  const eventStatus = async (eventId: string) => (await database.query<{ status: string }>(`SELECT status FROM lifecycle_event WHERE id = $1`, [eventId]))[0]!.status;
  const actions = (eventId: string) =>
    database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 AND action NOT LIKE '%attempt_failed' ORDER BY seq NULLS LAST, id`, [eventId]);
  const callsFor = (userName: string) => calls.filter((call) => call.endsWith(`-${userName}`)).sort();

  it('begins the event, acts once in each system and ends it once, however often it runs', async () => {
    const eventId = await leaver('together-once');
    const first = await run(eventId);
    expect(first.map((result) => result.status)).toEqual(['verified', 'succeeded', 'verified']);
    expect(first.filter((result) => result.ended)).toHaveLength(1);
    expect(await eventStatus(eventId)).toBe('completed');

    expect(await run(eventId, 2)).toEqual([
      { status: 'verified', ended: true },
      { status: 'succeeded', ended: true },
      { status: 'verified', ended: true },
    ]);
    expect(callsFor('together-once')).toEqual(['deactivate mendix-together-once', 'deactivate rocketchat-together-once', 'deactivate userapi-together-once']);
    const audit = (await actions(eventId)).map((row) => row.action);
    expect(audit.filter((action) => action === 'lifecycle.leaver.completed')).toHaveLength(1);
  });

  it('fails after settling the others when one system fails retryably, and its retry acts on that one alone', async () => {
    const eventId = await leaver('together-retry');
    writeFaults.set('userapi-together-retry', 'retry-once');
    await expect(run(eventId)).rejects.toThrow('the vendor answered 503');
    expect(await statuses(eventId)).toEqual({ rocketchat: 'verified', mendix: 'succeeded', userapi: 'pending' });
    expect(await eventStatus(eventId)).toBe('running');

    const retried = await run(eventId, 2);
    expect(retried.map((result) => result.status)).toEqual(['verified', 'succeeded', 'verified']);
    expect(retried[2]!.ended).toBe(true);
    expect(await eventStatus(eventId)).toBe('completed');
    // One deactivation each in Rocket.Chat and Mendix; the user API's failed one and its retry.
    expect(callsFor('together-retry')).toEqual([
      'deactivate mendix-together-retry',
      'deactivate rocketchat-together-retry',
      'deactivate userapi-together-retry',
      'deactivate userapi-together-retry',
    ]);
  });

  it('makes a system that refuses for good need attention and lets the others go ahead, without failing the activity', async () => {
    const eventId = await leaver('together-refused');
    writeFaults.set('mendix-together-refused', 'refused');
    const results = await run(eventId);
    expect(results).toEqual([
      { status: 'verified', ended: false },
      { status: 'needs_attention', ended: false },
      { status: 'verified', ended: false },
    ]);
    expect(await statuses(eventId)).toEqual({ rocketchat: 'verified', mendix: 'needs_attention', userapi: 'verified' });
    const [reason] = await database.query<{ last_error: string }>(`SELECT last_error FROM target_action WHERE event_id = $1 AND system = 'mendix'`, [eventId]);
    expect(reason!.last_error).toBe('PermanentDownstreamError: the vendor answered 403');

    // Run again (a retry after a lost answer): the refused target is not acted on again.
    expect((await run(eventId, 2)).map((result) => result.status)).toEqual(['verified', 'needs_attention', 'verified']);
    expect(callsFor('together-refused')).toEqual(['deactivate mendix-together-refused', 'deactivate rocketchat-together-refused', 'deactivate userapi-together-refused']);
  });

  it('leaves a settled target settled when the workflow gives up on the activity', async () => {
    const eventId = await leaver('together-given-up');
    writeFaults.set('userapi-together-given-up', 'retry-once');
    await expect(run(eventId)).rejects.toThrow('the vendor answered 503');
    // The retry budget ran out: the workflow marks every target of the activity (runTogether),
    // through the bookkeeping activity, which knows Mendix's acceptance is its final outcome.
    const reason = 'gave up after the retry deadline (SCHEDULE_TO_CLOSE); last failure: the vendor answered 503';
    const after = await Promise.all(SYSTEMS.map((system) => markTargetNeedsAttention(database.db, { eventId, system, action: 'deactivate', reason }, new Date(), finalOutcomeOf(connectors))));
    expect(after).toEqual(['verified', 'succeeded', 'needs_attention']);
    expect(await statuses(eventId)).toEqual({ rocketchat: 'verified', mendix: 'succeeded', userapi: 'needs_attention' });
    const marked = (await actions(eventId)).filter((row) => row.action.endsWith('.needs_attention'));
    expect(marked).toHaveLength(1);
  });
});
