// The mass-release lane's steps in src/lifecycle/transitions.ts (decision 048), against the real
// PostgreSQL: an approval over the threshold writes one start row for the mass-release workflow
// and marks the events' rows instead of releasing them one by one; a page begins its events in id
// order, respects a rehire that came first, hands back what it cannot act on simply, and answers
// the same events when it runs again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveHeld, beginMassPage, cancelOpenEvent } from '../../src/lifecycle/transitions.js';
import { MASS_RELEASE_WORKFLOW, type LifecycleWorkflowInput, type MassReleaseInput } from '../../workflows/contract.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
beforeAll(async () => void (database = await createTestDatabase()));
afterAll(() => database.drop());

describe('mass-release transitions', () => {
  let counter = 0;
  /** A leaver the guard held before its workflow started: held, with its start row marked 'held'. */
  async function heldLeaver(effectiveAt = new Date(Date.now() - 1000)) {
    const n = counter++;
    const identity = await database.db.identity.create({ data: { userName: `mass-${n}`, resource: {} } });
    const workflowId = `lifecycle-mass-${n}-${Math.random().toString(16).slice(2)}`;
    const event = await database.db.lifecycleEvent.create({
      data: { identityId: identity.id, kind: 'leaver', status: 'held', actor: 'okta', effectiveAt, workflowId, changes: {} },
    });
    for (const system of ['rocketchat', 'userapi']) await database.db.targetAction.create({ data: { eventId: event.id, system, action: 'deactivate' } });
    const input: LifecycleWorkflowInput = {
      eventId: event.id,
      kind: 'leaver',
      targets: [{ system: 'rocketchat', action: 'deactivate' }, { system: 'userapi', action: 'deactivate' }],
      queuePrefix: 'mass-q',
      retryDeadlineMs: 60_000,
      guard: true,
    };
    await database.db.outboxEntry.create({ data: { kind: 'start', workflowId, workflowType: 'lifecycleWorkflow', signal: 'held', args: [input] as never } });
    return event;
  }

  const startRows = (workflowIds: string[]) =>
    database.query<{ workflow_id: string; signal: string | null; dispatched: boolean; release: string | null; guard: boolean }>(
      `SELECT workflow_id, signal, dispatched_at IS NOT NULL AS dispatched, args->0->>'massRelease' AS release, (args->0->>'guard')::boolean AS guard
       FROM outbox WHERE kind = 'start' AND workflow_id = ANY($1::text[]) ORDER BY id`,
      [workflowIds],
    );

  it('releases an approval under the threshold one by one, as before', async () => {
    const events = [await heldLeaver(), await heldLeaver()];
    const answer = await database.db.$transaction((tx) => approveHeld(tx, events, 'alice', new Date(), { threshold: 2 }));
    expect(answer.massReleaseWorkflowId).toBeNull();
    expect((await startRows(events.map((event) => event.workflowId))).map((row) => row.signal)).toEqual(['approve', 'approve']);
  });

  it('writes one mass-release start row over the threshold, marks the events, and pages through them in id order', async () => {
    const events: Awaited<ReturnType<typeof heldLeaver>>[] = [];
    for (let index = 0; index < 5; index++) events.push(await heldLeaver());
    const now = new Date();
    const { massReleaseWorkflowId } = await database.db.$transaction((tx) => approveHeld(tx, events, 'alice', now, { threshold: 3 }));
    expect(massReleaseWorkflowId).toMatch(/^mass-release-/);

    const [mass] = await database.query<{ workflow_type: string; signal: string | null; args: [MassReleaseInput] }>(
      `SELECT workflow_type, signal, args FROM outbox WHERE workflow_id = $1`,
      [massReleaseWorkflowId],
    );
    expect(mass).toMatchObject({ workflow_type: MASS_RELEASE_WORKFLOW, signal: null });
    const releaseId = mass!.args[0].releaseId;
    expect(mass!.args[0]).toMatchObject({ queuePrefix: 'mass-q', retryDeadlineMs: 60_000 });
    const rows = await startRows(events.map((event) => event.workflowId));
    expect(rows.every((row) => row.signal === 'mass' && !row.dispatched && row.release === releaseId && row.guard === false)).toBe(true);
    const statuses = await database.query<{ status: string }>(`SELECT status::text FROM lifecycle_event WHERE id = ANY($1::uuid[])`, [events.map((event) => event.id)]);
    expect(statuses.every((row) => row.status === 'pending')).toBe(true);
    // The evidence of each person is as a one-by-one release writes it, plus one row for the approval as a whole.
    const audit = await database.query<{ action: string; event_id: string | null }>(`SELECT action, event_id FROM audit_event WHERE occurred_at = $1 ORDER BY id`, [now]);
    expect(audit.filter((row) => row.action === 'operator.approve')).toHaveLength(5);
    expect(audit.filter((row) => row.action === 'lifecycle.leaver.approved')).toHaveLength(5);
    expect(audit.filter((row) => row.action === 'operator.mass_release')).toEqual([{ action: 'operator.mass_release', event_id: null }]);

    // A rehire before the page: the event is cancelled and its row unmarked, so the page passes it by.
    const sorted = [...events].sort((a, b) => (a.id < b.id ? -1 : 1));
    const rehired = sorted[1]!;
    await database.db.$transaction(async (tx) => {
      const pending = await tx.lifecycleEvent.findUniqueOrThrow({ where: { id: rehired.id } });
      await cancelOpenEvent(tx, pending, { by: 'okta', reason: 'rehired before the leaver took effect', now: new Date() });
    });

    const first = await beginMassPage(database.db, { releaseId, limit: 2 }, new Date());
    expect(first.events.map((event) => event.eventId)).toEqual([sorted[0]!.id, sorted[2]!.id]);
    expect(first.events[0]!.targets).toEqual([{ system: 'rocketchat', action: 'deactivate' }, { system: 'userapi', action: 'deactivate' }]);
    expect(first.lastEventId).toBe(sorted[2]!.id);
    // Run again (a retried step): the same events, still running, nothing written twice.
    const again = await beginMassPage(database.db, { releaseId, limit: 2 }, new Date());
    expect(again.events.map((event) => event.eventId)).toEqual(first.events.map((event) => event.eventId));

    const second = await beginMassPage(database.db, { releaseId, afterEventId: first.lastEventId!, limit: 2 }, new Date());
    expect(second.events.map((event) => event.eventId)).toEqual([sorted[3]!.id, sorted[4]!.id]);
    const done = await beginMassPage(database.db, { releaseId, afterEventId: second.lastEventId!, limit: 2 }, new Date());
    expect(done).toEqual({ lastEventId: null, events: [], handedBack: 0 });

    const after = await database.query<{ id: string; status: string }>(`SELECT id, status::text FROM lifecycle_event WHERE id = ANY($1::uuid[]) ORDER BY id`, [sorted.map((event) => event.id)]);
    expect(after.map((row) => row.status)).toEqual(['running', 'cancelled', 'running', 'running', 'running']);
    const marks = await startRows([rehired.workflowId]);
    // The rehired event's own workflow starts, finds it cancelled and says so (decision 023).
    expect(marks[0]).toMatchObject({ signal: null, dispatched: false });
    const begunRows = await startRows(sorted.filter((event) => event !== rehired).map((event) => event.workflowId));
    expect(begunRows.every((row) => row.signal === 'mass' && row.dispatched)).toBe(true);
  });

  it('hands an event dated ahead back to the one-by-one release', async () => {
    const events = [await heldLeaver(), await heldLeaver(new Date(Date.now() + 3_600_000))];
    const { massReleaseWorkflowId } = await database.db.$transaction((tx) => approveHeld(tx, events, 'bob', new Date(), { threshold: 1 }));
    const [mass] = await database.query<{ args: [MassReleaseInput] }>(`SELECT args FROM outbox WHERE workflow_id = $1`, [massReleaseWorkflowId]);
    const page = await beginMassPage(database.db, { releaseId: mass!.args[0].releaseId, limit: 10 }, new Date());
    expect(page.events.map((event) => event.eventId)).toEqual([events[0]!.id]);
    expect(page.handedBack).toBe(1);
    const [dated] = await startRows([events[1]!.workflowId]);
    expect(dated).toMatchObject({ signal: 'approve', dispatched: false });
  });
});
