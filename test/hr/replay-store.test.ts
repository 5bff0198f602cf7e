// The HR webhook's replay store in PostgreSQL (src/hr/replay-store.ts, decision 026): a signature
// seen by one API process is a replay to every other, including one started later; of two
// processes receiving the same delivery at once exactly one takes it; signatures past the window
// are pruned.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.js';
import { postgresReplayStore } from '../../src/hr/replay-store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let other: Database;

beforeAll(async () => {
  database = await createTestDatabase();
  // A second client with its own pool: what another API replica would hold.
  other = createDatabase(database.url);
});

afterAll(async () => {
  await other.$disconnect();
  await database.drop();
});

describe('the HR webhook replay store', () => {
  it('refuses in one process a signature another process saw, and in a process started after it', async () => {
    const first = postgresReplayStore(database.db, { keepSeconds: 600 });
    const replica = postgresReplayStore(other, { keepSeconds: 600 });
    expect(await first.firstSighting('sha256=aaa')).toBe(true);
    expect(await replica.firstSighting('sha256=aaa')).toBe(false);
    expect(await first.firstSighting('sha256=aaa')).toBe(false);
    const restarted = postgresReplayStore(database.db, { keepSeconds: 600 });
    expect(await restarted.firstSighting('sha256=aaa')).toBe(false);
    expect(await replica.firstSighting('sha256=bbb')).toBe(true);
  });

  it('lets exactly one of many simultaneous deliveries of one signature through', async () => {
    const stores = [postgresReplayStore(database.db, { keepSeconds: 600 }), postgresReplayStore(other, { keepSeconds: 600 })];
    const answers = await Promise.all(Array.from({ length: 20 }, (_, index) => stores[index % 2]!.firstSighting('sha256=race')));
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it('forgets signatures older than it keeps them', async () => {
    await database.query(`INSERT INTO hr_webhook_delivery (signature, received_at) VALUES ('sha256=old', now() - interval '11 minutes'), ('sha256=recent', now() - interval '1 minute')`);
    const store = postgresReplayStore(database.db, { keepSeconds: 600 });
    // The first call prunes: the old signature is gone, the recent one still a replay.
    expect(await store.firstSighting('sha256=recent')).toBe(false);
    const left = await database.query<{ signature: string }>(`SELECT signature FROM hr_webhook_delivery WHERE signature IN ('sha256=old', 'sha256=recent')`);
    expect(left.map((row) => row.signature)).toEqual(['sha256=recent']);
  });
});
