// The workflow's steps in src/lifecycle/transitions.ts that are one statement each (decision 018):
// a target outcome, a read-back and the event's end write the status and its audit row together,
// write nothing when the row has moved, leave the same records however often they run, and their
// audit rows chain and verify like any other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIntegrator } from '../../src/audit/integrator.js';
import { verifyChain } from '../../src/audit/verify.js';
import { beginEvent, beginIfFirst, EventStatusMoved, finishEvent, recordReadBack, settleTarget, settleVerifiedTarget } from '../../src/lifecycle/transitions.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { holdRow } from '../support/row-hold.js';

describe('one-statement transitions', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  let counter = 0;
  /** A running leaver with one pending deactivation per system. */
  async function leaver(systems: string[]) {
    const identity = await database.db.identity.create({ data: { userName: `transitions-${counter++}`, resource: {} } });
    const event = await database.db.lifecycleEvent.create({
      data: { identityId: identity.id, kind: 'leaver', status: 'running', actor: 'okta', effectiveAt: new Date(), workflowId: `wf-transitions-${counter++}`, changes: {} },
    });
    for (const system of systems) await database.db.targetAction.create({ data: { eventId: event.id, system, action: 'deactivate' } });
    return { identityId: identity.id, eventId: event.id };
  }
  const auditOf = (eventId: string) =>
    database.query<{ action: string; system: string | null }>(`SELECT action, system FROM audit_event WHERE event_id = $1 ORDER BY id`, [eventId]);

  it('settles a target with its account link and audit row, and writes nothing once it has moved', async () => {
    const { identityId, eventId } = await leaver(['rocketchat']);
    const target = { eventId, system: 'rocketchat' as const, action: 'deactivate' as const, identityId };
    await settleTarget(database.db, target, { status: 'succeeded', accountId: 'acc-1', newLink: true, data: { attempt: 1 } }, new Date());
    await expect(settleTarget(database.db, target, { status: 'succeeded', accountId: 'acc-2', newLink: true, data: { attempt: 2 } }, new Date())).rejects.toBeInstanceOf(
      EventStatusMoved,
    );
    const [row] = await database.query<{ status: string; account_id: string; confirmed: boolean; attempts: number }>(
      `SELECT status, account_id, confirmed_at IS NOT NULL AS confirmed, attempts FROM target_action WHERE event_id = $1`,
      [eventId],
    );
    expect(row).toEqual({ status: 'succeeded', account_id: 'acc-1', confirmed: true, attempts: 1 });
    expect(await database.query(`SELECT account_id FROM account_link WHERE identity_id = $1`, [identityId])).toEqual([{ account_id: 'acc-1' }]);
    expect(await auditOf(eventId)).toEqual([{ action: 'target.deactivate.succeeded', system: 'rocketchat' }]);
  });

  it('counts the contradicting reads of a generation, this one included, then verifies', async () => {
    const { identityId, eventId } = await leaver(['userapi']);
    const target = { eventId, system: 'userapi' as const, action: 'deactivate' as const, identityId };
    await settleTarget(database.db, target, { status: 'succeeded', accountId: 'u-1', data: {} }, new Date());
    const read = (status: 'verified' | 'read_contradicted', generation: number) =>
      recordReadBack(database.db, { ...target, generation }, { status, data: { read: { active: status !== 'verified' } } }, new Date());
    expect(await read('read_contradicted', 0)).toBe(1);
    expect(await read('read_contradicted', 0)).toBe(2);
    expect(await read('read_contradicted', 1)).toBe(1);
    expect(await read('verified', 1)).toBe(1);
    const [row] = await database.query<{ status: string; verified: boolean; attempts: number }>(
      `SELECT status, verified_at IS NOT NULL AS verified, attempts FROM target_action WHERE event_id = $1`,
      [eventId],
    );
    expect(row).toEqual({ status: 'verified', verified: true, attempts: 4 });
  });

  it('ends a leaver that every system answered "no such account" once, needing attention, however often it runs', async () => {
    const { identityId, eventId } = await leaver(['rocketchat', 'mendix']);
    for (const system of ['rocketchat', 'mendix'] as const) {
      await settleTarget(database.db, { eventId, system, action: 'deactivate', identityId }, { status: 'not_found', data: {} }, new Date());
    }
    expect(await finishEvent(database.db, eventId, new Date(), (system) => `${system.toUpperCase()}_LOOKUP`)).toBe('needs_attention');
    expect(await finishEvent(database.db, eventId, new Date())).toBe('needs_attention');
    const notes = await database.query<{ last_error: string }>(`SELECT last_error FROM target_action WHERE event_id = $1 ORDER BY system`, [eventId]);
    expect(notes.map((note) => note.last_error)).toEqual([expect.stringContaining('MENDIX_LOOKUP'), expect.stringContaining('ROCKETCHAT_LOOKUP')]);
    expect((await auditOf(eventId)).map((row) => row.action)).toEqual(['target.deactivate.not_found', 'target.deactivate.not_found', 'lifecycle.leaver.needs_attention']);
    const [event] = await database.query<{ status: string }>(`SELECT status FROM lifecycle_event WHERE id = $1`, [eventId]);
    expect(event!.status).toBe('needs_attention');
  });

  // Decision 059: beginIfFirst's statement answers the event as committed when a sibling's begin or
  // a cancellation got there between its snapshot and its lock (row-hold.ts makes the race certain).
  async function pendingLeaver() {
    const identity = await database.db.identity.create({ data: { userName: `begin-race-${counter++}`, resource: {} } });
    const event = await database.db.lifecycleEvent.create({
      data: { identityId: identity.id, kind: 'leaver', status: 'pending', actor: 'okta', effectiveAt: new Date(), workflowId: `wf-begin-race-${counter++}`, changes: {} },
    });
    return event.id;
  }

  it('answers running, not wait, to the begin whose snapshot predates its sibling\'s', async () => {
    const eventId = await pendingLeaver();
    const hold = await holdRow(database.url, 'lifecycle_event', eventId);
    // Both statements' snapshots show the event pending; both then wait for the row.
    const begins = [beginIfFirst(database.db, eventId, new Date()), beginIfFirst(database.db, eventId, new Date())];
    await hold.waiters(2);
    await hold.release();
    expect((await Promise.all(begins)).sort()).toEqual(['begun', 'running']);
    expect(await database.db.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } })).toMatchObject({ status: 'running' });
  });

  it('answers cancelled when a rehire cancels the event between its snapshot and its lock', async () => {
    const eventId = await pendingLeaver();
    const hold = await holdRow(database.url, 'lifecycle_event', eventId);
    const begin = beginIfFirst(database.db, eventId, new Date());
    await hold.waiters(1);
    await hold.release({ text: `UPDATE lifecycle_event SET status = 'cancelled' WHERE id = $1::uuid`, values: [eventId] });
    expect(await begin).toBe('cancelled');
  });

  it('writes an acceptance and its verifying read in one statement, each dated when it happened, and nothing once the target has moved', async () => {
    const { identityId, eventId } = await leaver(['userapi']);
    const acceptedAt = new Date(Date.now() - 5_000);
    const now = new Date();
    const outcome = {
      target: { eventId, system: 'userapi' as const, action: 'deactivate' as const, identityId, generation: 0 },
      accepted: { accountId: 'u-9', newLink: true, data: { attempt: 1 } },
      acceptedAt,
      verified: { data: { read: { active: false } } },
    };
    await settleVerifiedTarget(database.db, outcome, now);
    await expect(settleVerifiedTarget(database.db, outcome, new Date())).rejects.toBeInstanceOf(EventStatusMoved);
    const [row] = await database.query<{ status: string; account_id: string; confirmed_at: Date; verified_at: Date; attempts: number }>(
      `SELECT status, account_id, confirmed_at, verified_at, attempts FROM target_action WHERE event_id = $1`,
      [eventId],
    );
    expect(row).toEqual({ status: 'verified', account_id: 'u-9', confirmed_at: acceptedAt, verified_at: now, attempts: 1 });
    expect(await database.query(`SELECT account_id FROM account_link WHERE identity_id = $1`, [identityId])).toEqual([{ account_id: 'u-9' }]);
    expect(await database.query(`SELECT action, occurred_at FROM audit_event WHERE event_id = $1 ORDER BY id`, [eventId])).toEqual([
      { action: 'target.deactivate.succeeded', occurred_at: acceptedAt },
      { action: 'target.deactivate.verified', occurred_at: now },
    ]);
  });

  it('writes audit rows that chain and verify', async () => {
    const { identityId, eventId } = await leaver(['mendix']);
    await settleTarget(database.db, { eventId, system: 'mendix', action: 'deactivate', identityId }, { status: 'succeeded', accountId: 'm-1', data: { note: 'ünïcode' } }, new Date());
    expect(await finishEvent(database.db, eventId, new Date())).toBe('completed');
    await new AuditIntegrator({ db: database.db }).integrateAll();
    const result = await verifyChain(database.db);
    expect(result.firstBroken).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.rowsChecked).toBeGreaterThanOrEqual(2);
  });
});

describe('beginEvent for a dated mover (decision 026)', () => {
  let database: TestDatabase;
  const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await database.drop();
  });

  let counter = 0;
  /** A person in Engineering with a mover to Finance recorded yesterday, due now. */
  async function datedMover(active: boolean) {
    counter++;
    const identity = await database.db.identity.create({
      data: { userName: `dated-${counter}`, active, department: 'Engineering', resource: { schemas: [ENTERPRISE], userName: `dated-${counter}`, active, [ENTERPRISE]: { department: 'Engineering' } } },
    });
    const event = await database.db.lifecycleEvent.create({
      data: {
        identityId: identity.id, kind: 'mover', status: 'waiting', actor: 'bamboohr', workflowId: `wf-dated-${counter}`,
        createdAt: new Date(Date.now() - 86_400_000), effectiveAt: new Date(Date.now() - 1000), changes: { department: { from: 'Engineering', to: 'Finance' } },
      },
    });
    return { identityId: identity.id, eventId: event.id };
  }
  const actionsOf = async (eventId: string) => (await database.query<{ action: string }>(`SELECT action FROM audit_event WHERE event_id = $1 ORDER BY id`, [eventId])).map((row) => row.action);

  it('writes its values to the person when it starts, once however often the step runs', async () => {
    const { identityId, eventId } = await datedMover(true);
    expect(await beginEvent(database.db, eventId, new Date())).toBe(true);
    expect(await beginEvent(database.db, eventId, new Date())).toBe(true);
    const person = await database.db.identity.findUniqueOrThrow({ where: { id: identityId } });
    expect(person).toMatchObject({ department: 'Finance', version: 2 });
    expect((person.resource as Record<string, unknown>)[ENTERPRISE]).toEqual({ department: 'Finance' });
    expect(await actionsOf(eventId)).toEqual(['workflow.started', 'lifecycle.mover.effective']);
  });

  it('cancels it instead when the person left meanwhile, writing nothing to them', async () => {
    const { identityId, eventId } = await datedMover(false);
    expect(await beginEvent(database.db, eventId, new Date())).toBe(false);
    expect(await database.db.lifecycleEvent.findUniqueOrThrow({ where: { id: eventId } })).toMatchObject({ status: 'cancelled' });
    expect(await database.db.identity.findUniqueOrThrow({ where: { id: identityId } })).toMatchObject({ department: 'Engineering', version: 1 });
    const [cancelled] = await database.query<{ action: string; data: { reason: string } }>(`SELECT action, data FROM audit_event WHERE event_id = $1`, [eventId]);
    expect(cancelled).toEqual({ action: 'lifecycle.mover.cancelled', data: { reason: 'the person left before the mover took effect' } });
  });
});

