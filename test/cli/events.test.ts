// `jml events`: argument handling, exit codes and what lands in the database (outbox, statuses,
// audit). No Temporal here: the rows are what a running jml's relay would deliver.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventsCommand, type EventsArgs } from '../../src/cli/events.js';
import type { LifecycleWorkflowInput } from '../../workflows/contract.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/** Asymmetric matchers typed as unknown, so they sit in object literals without `any`. */
const containing = (text: string): unknown => expect.stringContaining(text);

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

async function jmlEvents(args: Partial<EventsArgs> & { action: string }) {
  let out = '';
  let err = '';
  const code = await eventsCommand(database.db, { as: 'bob', ...args }, { out: (text) => (out += text), err: (text) => (err += text) });
  return { code, out, err };
}

type TargetSeed = { system: 'rocketchat' | 'mendix' | 'userapi'; status: 'pending' | 'succeeded' | 'needs_attention'; lastError?: string };

/** An identity and one leaver in the given state, with the outbox start row its workflow came from. */
async function seedLeaver(status: 'held' | 'needs_attention' | 'completed', targets: TargetSeed[], identityId: string = randomUUID()) {
  const { db } = database;
  await db.identity.upsert({ where: { id: identityId }, create: { id: identityId, userName: `u-${identityId}`, active: false, resource: {} }, update: {} });
  const id = randomUUID();
  const workflowId = `lifecycle-${id}`;
  await db.lifecycleEvent.create({ data: { id, identityId, kind: 'leaver', status, actor: 'okta', effectiveAt: new Date(), workflowId, changes: {} } });
  await db.targetAction.createMany({ data: targets.map((target) => ({ eventId: id, action: 'deactivate' as const, ...target })) });
  const input: LifecycleWorkflowInput = {
    eventId: id,
    kind: 'leaver',
    targets: targets.map(({ system }) => ({ system, action: 'deactivate' })),
    queuePrefix: 'cli-test-queue',
    retryDeadlineMs: 123_000,
    retryInitialIntervalMs: 50,
    retryMaximumIntervalMs: 500,
    guard: true,
  };
  await db.outboxEntry.create({ data: { kind: 'start', workflowId, workflowType: 'lifecycleWorkflow', args: [input] as object[], dispatchedAt: new Date() } });
  return { id, identityId, workflowId };
}

async function auditOf(eventId: string) {
  return database.query<{ actor: string; action: string; data: Record<string, unknown> }>('SELECT actor, action, data FROM audit_event WHERE event_id = $1 ORDER BY id', [eventId]);
}

async function statusOf(eventId: string) {
  const [row] = await database.query<{ status: string }>('SELECT status FROM lifecycle_event WHERE id = $1', [eventId]);
  return row?.status;
}

describe('jml events', () => {
  beforeEach(async () => {
    // Each test starts with no held leaver left over, so --all-held counts only its own.
    await database.query(`UPDATE lifecycle_event SET status = 'completed' WHERE status = 'held'`);
  });

  it('refuses missing or malformed arguments with usage and exit code 2, before touching anything', async () => {
    expect(await jmlEvents({ action: 'frobnicate' })).toMatchObject({ code: 2, err: containing('Usage:') });
    expect(await jmlEvents({ action: 'approve' })).toMatchObject({ code: 2, err: containing('needs an event id') });
    const bad = await jmlEvents({ action: 'approve', target: 'not-an-id' });
    expect(bad).toMatchObject({ code: 2, err: containing('event id: must be a lifecycle event id') });
    const filters = await jmlEvents({ action: 'list', status: 'asleep', limit: '1000', identity: 'x' });
    expect(filters.code).toBe(2);
    expect(filters.err).toContain('--status');
    expect(filters.err).toContain('--limit');
    expect(filters.err).toContain('--identity');
    const held = await seedLeaver('held', [{ system: 'userapi', status: 'pending' }]);
    expect(await jmlEvents({ action: 'approve', target: held.id, allHeld: true })).toMatchObject({ code: 2, err: containing('not both') });
    expect(await jmlEvents({ action: 'retry', target: held.id, system: 'ldap' })).toMatchObject({ code: 2, err: containing('--system') });
    expect(await statusOf(held.id)).toBe('held');
    expect(await database.query('SELECT 1 FROM outbox WHERE workflow_id = $1 AND kind = $2', [held.workflowId, 'signal'])).toHaveLength(0);
  });

  it('says so, with exit code 1, for an unknown event or one in the wrong state', async () => {
    const unknown = randomUUID();
    expect(await jmlEvents({ action: 'show', target: unknown })).toMatchObject({ code: 1, err: containing(`No lifecycle event ${unknown}`) });
    const done = await seedLeaver('completed', [{ system: 'userapi', status: 'succeeded' }]);
    expect(await jmlEvents({ action: 'reject', target: done.id })).toMatchObject({ code: 1, err: containing('is completed, not held') });
    expect(await jmlEvents({ action: 'retry', target: done.id })).toMatchObject({ code: 1, err: containing('is completed') });
  });

  it('approves a held leaver as the named operator: a signal in the outbox, pending, audited', async () => {
    const held = await seedLeaver('held', [{ system: 'rocketchat', status: 'pending' }]);
    const result = await jmlEvents({ action: 'approve', target: held.id });
    expect(result).toMatchObject({ code: 0, out: containing(`Approved ${held.id} as bob`) });
    const signals = await database.query<{ signal: string; args: unknown }>('SELECT signal, args FROM outbox WHERE workflow_id = $1 AND kind = $2', [held.workflowId, 'signal']);
    expect(signals).toEqual([{ signal: 'approve', args: [{ by: 'bob' }] }]);
    expect(await statusOf(held.id)).toBe('pending');
    expect((await auditOf(held.id)).map(({ actor, action }) => ({ actor, action }))).toEqual([{ actor: 'bob', action: 'operator.approve' }]);
    // Approved once: a second approve (or a late reject) is refused, not signalled again.
    expect(await jmlEvents({ action: 'reject', target: held.id })).toMatchObject({ code: 1, err: containing('is pending, not held') });
  });

  it('rejects a held leaver with a reason: cancelled here, the workflow told by signal', async () => {
    const held = await seedLeaver('held', [{ system: 'rocketchat', status: 'pending' }, { system: 'userapi', status: 'pending' }]);
    expect((await jmlEvents({ action: 'reject', target: held.id, reason: 'reorg, not leavers', as: 'carol' })).code).toBe(0);
    const [signal] = await database.query<{ signal: string; args: unknown }>('SELECT signal, args FROM outbox WHERE workflow_id = $1 AND kind = $2', [held.workflowId, 'signal']);
    expect(signal).toEqual({ signal: 'reject', args: [{ by: 'carol', reason: 'reorg, not leavers' }] });
    expect(await statusOf(held.id)).toBe('cancelled');
    const targets = await database.query<{ status: string }>('SELECT status FROM target_action WHERE event_id = $1', [held.id]);
    expect(targets.map((target) => target.status)).toEqual(['cancelled', 'cancelled']);
    const audit = await auditOf(held.id);
    expect(audit.map(({ actor, action }) => ({ actor, action }))).toEqual([
      { actor: 'carol', action: 'operator.reject' },
      { actor: 'carol', action: 'lifecycle.leaver.cancelled' },
    ]);
    expect(audit[0]?.data).toMatchObject({ reason: 'reorg, not leavers' });
  });

  it('approves every held leaver at once with --all-held', async () => {
    const first = await seedLeaver('held', [{ system: 'mendix', status: 'pending' }]);
    const second = await seedLeaver('held', [{ system: 'mendix', status: 'pending' }]);
    const result = await jmlEvents({ action: 'approve', allHeld: true });
    expect(result.code).toBe(0);
    expect(result.out).toContain(first.id);
    expect(result.out).toContain(second.id);
    expect([await statusOf(first.id), await statusOf(second.id)]).toEqual(['pending', 'pending']);
    expect(await jmlEvents({ action: 'approve', allHeld: true })).toMatchObject({ code: 0, out: 'No event is held.\n' });
  });

  it('retries only the failed target of one system, as a new generation with the original settings', async () => {
    const failed = await seedLeaver('needs_attention', [
      { system: 'rocketchat', status: 'needs_attention', lastError: 'down' },
      { system: 'mendix', status: 'succeeded' },
      { system: 'userapi', status: 'needs_attention', lastError: 'INSUFFICIENT_PERMISSIONS' },
    ]);
    expect(await jmlEvents({ action: 'retry', target: failed.id, system: 'mendix' })).toMatchObject({ code: 1, err: containing('in mendix needs attention') });

    expect(await jmlEvents({ action: 'retry', target: failed.id, system: 'userapi' })).toMatchObject({ code: 0, out: containing(`lifecycle-${failed.id}-retry-1`) });
    const [start] = await database.query<{ workflow_id: string; args: LifecycleWorkflowInput[] }>(
      `SELECT workflow_id, args FROM outbox WHERE kind = 'start' AND workflow_id LIKE $1`, [`lifecycle-${failed.id}-retry-%`]);
    expect(start?.workflow_id).toBe(`lifecycle-${failed.id}-retry-1`);
    expect(start?.args).toEqual([
      {
        eventId: failed.id,
        kind: 'leaver',
        targets: [{ system: 'userapi', action: 'deactivate' }],
        queuePrefix: 'cli-test-queue',
        retryDeadlineMs: 123_000,
        retryInitialIntervalMs: 50,
        retryMaximumIntervalMs: 500,
        guard: false,
        generation: 1,
      },
    ]);
    const targets = await database.query<{ system: string; status: string; last_error: string | null }>('SELECT system, status, last_error FROM target_action WHERE event_id = $1 ORDER BY system', [failed.id]);
    expect(targets).toEqual([
      { system: 'mendix', status: 'succeeded', last_error: null },
      { system: 'rocketchat', status: 'needs_attention', last_error: 'down' },
      { system: 'userapi', status: 'pending', last_error: null },
    ]);
    expect(await statusOf(failed.id)).toBe('pending');
    // While that run is under way the event is not retried again.
    expect((await jmlEvents({ action: 'retry', target: failed.id })).code).toBe(1);

    // The run ended with Rocket.Chat still failing: the next retry is generation 2, Rocket.Chat only.
    await database.query(`UPDATE lifecycle_event SET status = 'needs_attention' WHERE id = $1`, [failed.id]);
    await database.query(`UPDATE target_action SET status = 'succeeded' WHERE event_id = $1 AND system = 'userapi'`, [failed.id]);
    expect((await jmlEvents({ action: 'retry', target: failed.id })).code).toBe(0);
    const retries = await database.query<{ workflow_id: string; args: LifecycleWorkflowInput[] }>(
      `SELECT workflow_id, args FROM outbox WHERE kind = 'start' AND workflow_id LIKE $1 ORDER BY id`, [`lifecycle-${failed.id}-retry-%`]);
    expect(retries.map((row) => [row.workflow_id, row.args[0]?.generation, row.args[0]?.targets])).toEqual([
      [`lifecycle-${failed.id}-retry-1`, 1, [{ system: 'userapi', action: 'deactivate' }]],
      [`lifecycle-${failed.id}-retry-2`, 2, [{ system: 'rocketchat', action: 'deactivate' }]],
    ]);
    const audit = (await auditOf(failed.id)).filter((row) => row.action === 'operator.retry');
    expect(audit.map((row) => [row.actor, row.data.generation])).toEqual([['bob', 1], ['bob', 2]]);

    const shown = await jmlEvents({ action: 'show', target: failed.id });
    expect(shown.code).toBe(0);
    expect(shown.out).toContain(`lifecycle-${failed.id}-retry-2`);
    expect(shown.out).toMatch(/rocketchat\s+deactivate\s+pending/);
  });

  it('will not retry an event a later event of the same person overrides', async () => {
    const failed = await seedLeaver('needs_attention', [{ system: 'userapi', status: 'needs_attention' }]);
    const rehire = await database.db.lifecycleEvent.create({
      data: { identityId: failed.identityId, kind: 'rehire', status: 'completed', actor: 'okta', effectiveAt: new Date(), workflowId: `lifecycle-${randomUUID()}`, changes: {}, createdAt: new Date(Date.now() + 1000) },
    });
    await database.db.targetAction.create({ data: { eventId: rehire.id, system: 'userapi', action: 'reactivate', status: 'succeeded' } });
    expect(await jmlEvents({ action: 'retry', target: failed.id })).toMatchObject({ code: 1, err: containing(`Event ${rehire.id} (rehire) came after`) });
    expect(await statusOf(failed.id)).toBe('needs_attention');
  });

  it('lists newest first, filtered, a page at a time', async () => {
    const identityId = randomUUID();
    const older = await seedLeaver('completed', [{ system: 'userapi', status: 'succeeded' }], identityId);
    const newer = await seedLeaver('held', [{ system: 'userapi', status: 'pending' }], identityId);
    await database.query(`UPDATE lifecycle_event SET created_at = now() - interval '1 minute' WHERE id = $1`, [older.id]);
    const first = await jmlEvents({ action: 'list', identity: identityId, limit: '1', json: true });
    const page = JSON.parse(first.out) as { events: { id: string; targets: { system: string; status: string }[] }[]; nextCursor: string | null };
    expect(page.events.map((event) => event.id)).toEqual([newer.id]);
    expect(page.events[0]?.targets).toMatchObject([{ system: 'userapi', status: 'pending' }]);
    const second = JSON.parse((await jmlEvents({ action: 'list', identity: identityId, limit: '1', cursor: page.nextCursor!, json: true })).out) as typeof page;
    expect(second.events.map((event) => event.id)).toEqual([older.id]);
    expect(second.nextCursor).toBeNull();
    const heldOnly = await jmlEvents({ action: 'list', identity: identityId, status: 'held' });
    expect(heldOnly.out).toContain(newer.id);
    expect(heldOnly.out).not.toContain(older.id);
    expect(await jmlEvents({ action: 'list', cursor: 'garbage' })).toMatchObject({ code: 2, err: containing('--cursor') });
  });
});
