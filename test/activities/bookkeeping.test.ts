// Bookkeeping steps against the real database. Since decision 015 they run as local activities,
// which run again when a worker dies before the workflow task that ran them completes: each must
// leave the same records however many times it runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBookkeepingActivities } from '../../src/activities/bookkeeping.js';
import { logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('bookkeeping activities', () => {
  let database: TestDatabase;
  let books: ReturnType<typeof createBookkeepingActivities>;

  beforeAll(async () => {
    database = await createTestDatabase();
    books = createBookkeepingActivities({
      db: database.db,
      connectors: {},
      dryRun: () => false,
      logger,
      guard: { enabled: true, windowMs: 3_600_000, maxLeavers: 20, maxShare: 0.1, minLeaversForShare: 5 },
      now: () => new Date(),
    });
  });

  afterAll(async () => {
    await database.drop();
  });

  let counter = 0;
  const person = (userName: string) => database.db.identity.create({ data: { userName, resource: {} } });
  const event = (identityId: string, status: 'pending' | 'running' | 'held', createdAt: Date) =>
    database.db.lifecycleEvent.create({
      data: { identityId, kind: 'leaver', status, actor: 'okta', effectiveAt: createdAt, workflowId: `wf-${counter++}`, changes: {}, createdAt },
    });

  it('records an approval once however often it runs', async () => {
    const held = await event((await person('approved-twice')).id, 'held', new Date());
    await books.recordApproval({ eventId: held.id, by: 'alice' });
    await books.recordApproval({ eventId: held.id, by: 'alice' });
    const rows = await database.query<{ actor: string }>(`SELECT actor FROM audit_event WHERE event_id = $1 AND action = 'lifecycle.leaver.approved'`, [held.id]);
    expect(rows).toEqual([{ actor: 'alice' }]);
  });

  it('sees an earlier open event of the same person, and only that', async () => {
    const { id: ordered } = await person('ordered');
    const earlier = await event(ordered, 'running', new Date(Date.now() - 60_000));
    const later = await event(ordered, 'pending', new Date());
    const stranger = await event((await person('someone-else')).id, 'pending', new Date());
    expect(await books.earlierEventsOpen({ eventId: later.id })).toBe(true);
    expect(await books.earlierEventsOpen({ eventId: earlier.id })).toBe(false);
    expect(await books.earlierEventsOpen({ eventId: stranger.id })).toBe(false);
    await database.db.lifecycleEvent.update({ where: { id: earlier.id }, data: { status: 'completed' } });
    expect(await books.earlierEventsOpen({ eventId: later.id })).toBe(false);
  });
});
