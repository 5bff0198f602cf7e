// The lean path's target action (decision 055) against the real database, run as Temporal runs an
// activity (MockActivityEnvironment): the first of an event's target actions begins the event, the
// last to commit ends it, and neither happens twice however often they run. Connectors are fakes
// that count their calls: Rocket.Chat and the user API can be read back, Mendix cannot.
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTargetActivities, type LeanTargetResult } from '../../src/activities/target-action.js';
import { RetryableDownstreamError } from '../../src/connectors/errors.js';
import type { AccountState, Connector, SystemName } from '../../src/connectors/types.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { fakeConnector, targetActivitiesForTest } from '../support/target-activities.js';
import { holdRow } from '../support/row-hold.js';

const SYSTEMS: SystemName[] = ['rocketchat', 'mendix', 'userapi'];

describe('the lean target action', () => {
  let database: TestDatabase;
  let activities: ReturnType<typeof createTargetActivities>;
  const calls: string[] = [];
  const inactive = new Set<string>();
  /** Accounts whose next read is slow (answers after 50 ms) or fails once (a 503). */
  const readFaults = new Map<string, 'slow' | 'fail-once'>();

  async function read(accountId: string): Promise<AccountState> {
    const fault = readFaults.get(accountId);
    if (fault === 'slow') await new Promise((resolve) => setTimeout(resolve, 50));
    if (fault === 'fail-once') {
      readFaults.delete(accountId);
      throw new RetryableDownstreamError('the read failed', { system: 'userapi', status: 503 });
    }
    return { accountId, active: !inactive.has(accountId) };
  }

  function connector(system: SystemName, readable: boolean): Connector {
    const deactivate = (accountId: string) => {
      calls.push(`deactivate ${accountId}`);
      inactive.add(accountId);
      return Promise.resolve();
    };
    return fakeConnector(system, { deactivate, ...(readable ? { read } : {}) });
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    activities = targetActivitiesForTest(database.db, { rocketchat: connector('rocketchat', true), mendix: connector('mendix', false), userapi: connector('userapi', true) });
  });

  afterAll(async () => {
    await database.drop();
  });

  let counter = 0;
  /** A leaver with one pending deactivation per system, recorded `secondsAgo` ago. */
  async function leaver(userName: string, status: 'pending' | 'running' | 'cancelled', secondsAgo = 0, identityId?: string) {
    const id = identityId ?? (await database.db.identity.create({ data: { userName, resource: {} } })).id;
    const createdAt = new Date(Date.now() - secondsAgo * 1000);
    const event = await database.db.lifecycleEvent.create({
      data: { identityId: id, kind: 'leaver', status, actor: 'okta', effectiveAt: createdAt, createdAt, workflowId: `wf-lean-${counter++}`, changes: {} },
    });
    for (const system of SYSTEMS) {
      await database.db.targetAction.create({ data: { eventId: event.id, system, action: 'deactivate', status: status === 'cancelled' ? 'cancelled' : 'pending' } });
    }
    return { identityId: id, eventId: event.id };
  }
  const run = (eventId: string, system: SystemName): Promise<LeanTargetResult> =>
    new MockActivityEnvironment().run(activities.applyLeanTargetAction, { eventId, system, action: 'deactivate' as const, generation: 0 });
  const eventStatus = async (eventId: string) => (await database.query<{ status: string }>(`SELECT status FROM lifecycle_event WHERE id = $1`, [eventId]))[0]!.status;
  const ends = (eventId: string) => database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 AND action LIKE 'lifecycle.%'`, [eventId]);

  it('begins a pending leaver, acts once per system and ends it once, however often each runs', async () => {
    const { eventId } = await leaver('lean-once', 'pending');
    const first = await Promise.all(SYSTEMS.map((system) => run(eventId, system)));
    expect(first.map((result) => result.status)).toEqual(['verified', 'succeeded', 'verified']);
    expect(first.some((result) => result.ended)).toBe(true);
    expect(await eventStatus(eventId)).toBe('completed');
    expect(await ends(eventId)).toEqual([{ action: 'lifecycle.leaver.completed' }]);

    const again = await Promise.all(SYSTEMS.map((system) => run(eventId, system)));
    expect(again).toEqual([
      { status: 'verified', ended: true },
      { status: 'succeeded', ended: true },
      { status: 'verified', ended: true },
    ]);
    expect(calls.filter((call) => call.endsWith('-lean-once')).sort()).toEqual(['deactivate mendix-lean-once', 'deactivate rocketchat-lean-once', 'deactivate userapi-lean-once']);
    expect(await ends(eventId)).toEqual([{ action: 'lifecycle.leaver.completed' }]);
  });

  it('acts on nothing while an earlier event of the person is open, and then goes ahead', async () => {
    const earlier = await leaver('lean-second', 'running', 60);
    const { eventId } = await leaver('lean-second', 'pending', 0, earlier.identityId);
    expect(await run(eventId, 'mendix')).toEqual({ status: 'wait', ended: false });
    expect(await eventStatus(eventId)).toBe('pending');
    expect(calls.filter((call) => call.endsWith('-lean-second'))).toEqual([]);

    await database.query(`UPDATE lifecycle_event SET status = 'completed' WHERE id = $1`, [earlier.eventId]);
    expect(await run(eventId, 'mendix')).toEqual({ status: 'succeeded', ended: false });
    expect(await eventStatus(eventId)).toBe('running');
  });

  it('leaves the event open while another target waits for its read-back', async () => {
    const { eventId } = await leaver('lean-read-back', 'pending');
    expect(await run(eventId, 'mendix')).toEqual({ status: 'succeeded', ended: false });
    // Rocket.Chat accepted the change; its read-back has not happened yet.
    await database.query(`UPDATE target_action SET status = 'succeeded' WHERE event_id = $1 AND system = 'rocketchat'`, [eventId]);
    expect(await run(eventId, 'userapi')).toEqual({ status: 'verified', ended: false });
    expect(await eventStatus(eventId)).toBe('running');
    expect(await ends(eventId)).toEqual([]);
  });

  /** A target's audit rows in the order they were appended, with the transaction that wrote each. */
  const targetAudit = (eventId: string, system: SystemName) =>
    database.query<{ action: string; occurred_at: Date; tx: string }>(
      `SELECT action, occurred_at, xmin::text AS tx FROM audit_event WHERE event_id = $1 AND system = $2 ORDER BY id`,
      [eventId, system],
    );
  const target = async (eventId: string, system: SystemName) =>
    (await database.query<{ status: string; confirmed_at: Date | null; verified_at: Date | null }>(
      `SELECT status, confirmed_at, verified_at FROM target_action WHERE event_id = $1 AND system = $2`,
      [eventId, system],
    ))[0]!;

  it('records an accepted change and the read that verified it in one transaction, each dated when it happened', async () => {
    const { eventId } = await leaver('lean-one-write', 'running');
    readFaults.set('userapi-lean-one-write', 'slow');
    expect(await run(eventId, 'userapi')).toEqual({ status: 'verified', ended: false });
    const [accepted, verified, ...more] = await targetAudit(eventId, 'userapi');
    expect([accepted?.action, verified?.action, more]).toEqual(['target.deactivate.succeeded', 'target.deactivate.verified', []]);
    expect(accepted!.tx).toBe(verified!.tx);
    // The acceptance is dated at the system's answer, before the 50 ms read, not at the write.
    expect(verified!.occurred_at.getTime() - accepted!.occurred_at.getTime()).toBeGreaterThanOrEqual(40);
    const row = await target(eventId, 'userapi');
    expect(row).toEqual({ status: 'verified', confirmed_at: accepted!.occurred_at, verified_at: verified!.occurred_at });
  });

  it('writes the acceptance before a read that fails, and its retry reads again without writing again', async () => {
    const { eventId } = await leaver('lean-read-fails', 'running');
    readFaults.set('userapi-lean-read-fails', 'fail-once');
    await expect(run(eventId, 'userapi')).rejects.toThrow('the read failed');
    expect(await target(eventId, 'userapi')).toMatchObject({ status: 'succeeded', verified_at: null });
    expect(await run(eventId, 'userapi')).toEqual({ status: 'verified', ended: false });
    const audit = await targetAudit(eventId, 'userapi');
    expect(audit.map((entry) => entry.action)).toEqual(['target.deactivate.succeeded', 'target.deactivate.attempt_failed', 'target.deactivate.verified']);
    expect(new Set(audit.map((entry) => entry.tx)).size).toBe(3);
    expect(calls.filter((call) => call.endsWith('-lean-read-fails'))).toEqual(['deactivate userapi-lean-read-fails']);
  });

  // Decision 059's two races, each made deterministic by holding the event's row (row-hold.ts).
  const settled = (eventId: string, system: SystemName) => database.query(`UPDATE target_action SET status = 'verified' WHERE event_id = $1 AND system = $2`, [eventId, system]);

  it('lets both of two actions beginning the event at once act, and the last to settle end it', async () => {
    const { eventId } = await leaver('lean-begin-race', 'pending');
    await settled(eventId, 'rocketchat');
    const hold = await holdRow(database.url, 'lifecycle_event', eventId);
    // Both begins' snapshots show the event pending; one begins it, the other finds it running.
    const results = [run(eventId, 'mendix'), run(eventId, 'userapi')];
    await hold.waiters(2);
    await hold.release();
    expect((await Promise.all(results)).map((result) => result.status)).toEqual(['succeeded', 'verified']);
    expect((await Promise.all(results)).some((result) => result.ended)).toBe(true);
    expect(calls.filter((call) => call.endsWith('-lean-begin-race')).sort()).toEqual(['deactivate mendix-lean-begin-race', 'deactivate userapi-lean-begin-race']);
    expect(await eventStatus(eventId)).toBe('completed');
    expect(await ends(eventId)).toEqual([{ action: 'lifecycle.leaver.completed' }]);
  });

  it('ends the event from the final write whose snapshot missed the other one, after its commit', async () => {
    const { eventId } = await leaver('lean-end-race', 'running');
    await settled(eventId, 'userapi');
    const hold = await holdRow(database.url, 'lifecycle_event', eventId);
    // Mendix's outcome and Rocket.Chat's read-back, each the target's last write, both written
    // before either locks the event: the first to lock it is current and sees the other open; the
    // second finds the row written since its snapshot and reads the event again.
    const results = Promise.all([run(eventId, 'mendix'), run(eventId, 'rocketchat')]);
    await hold.waiters(2);
    await hold.release();
    expect((await results).map((result) => result.status)).toEqual(['succeeded', 'verified']);
    expect((await results).map((result) => result.ended).sort()).toEqual([false, true]);
    expect(await eventStatus(eventId)).toBe('completed');
    expect(await ends(eventId)).toEqual([{ action: 'lifecycle.leaver.completed' }]);
  });

  it('acts on nothing in an event cancelled before it began', async () => {
    const { eventId } = await leaver('lean-cancelled', 'cancelled');
    expect(await run(eventId, 'rocketchat')).toEqual({ status: 'cancelled', ended: false });
    expect(await eventStatus(eventId)).toBe('cancelled');
    expect(calls.filter((call) => call.endsWith('-lean-cancelled'))).toEqual([]);
  });
});
