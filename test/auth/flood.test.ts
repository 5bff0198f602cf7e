// Issue 15's flood, as a test of what it leaves behind (the throughput half is a figure, from
// bench/auth-flood.ts): 10,000 requests with wrong tokens from one address while a SCIM client
// with a valid token from the same address creates users. Every create succeeds, the flood is
// refused (401 until the address's budget is spent, then 429 at the front door), and the audit
// trail gains a handful of `auth.failed` rows whose counts add up to the 10,000. No timing: the
// two run side by side for as long as they take.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, frontDoor } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { scimOptions } from '../support/scim-app.js';
import { CORE_USER } from '../support/scim-client.js';

const FLOOD = 10_000;
const CREATES = 50;
const WRONG = `jml_scim_${'w'.repeat(43)}`;

let database: TestDatabase;
let server: Server;
let baseUrl: string;
let authFailures: AuthFailureGuard;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const { db } = database;
  const verifyToken = createTokenVerifier({ db });
  // jml's budget (20 failures); a refill so slow that none comes during the test, and a window of
  // an hour, so that however long the test takes its failures fall in one window: one row.
  authFailures = new AuthFailureGuard({ db, logger, perSecond: 0.001, windowMs: 3_600_000 });
  const app = createApp({ db, scim: scimOptions(db, { verifyToken, authFailures }) });
  server = createServer(frontDoor(app, { authFailures }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  token = (await createToken(db, { name: 'flood-idp', kind: 'scim' })).token;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await database.drop();
});

describe('10,000 wrong tokens beside a working SCIM client', () => {
  it('costs the client nothing it notices and the audit trail a handful of rows', async () => {
    const [before] = await database.query<{ count: string }>(`SELECT count(*) FROM audit_event WHERE action = 'auth.failed'`);
    const statuses: Record<number, number> = {};
    let sent = 0;
    const flooder = async () => {
      while (sent < FLOOD) {
        sent += 1;
        const response = await fetch(`${baseUrl}/scim/v2/Users?filter=userName%20eq%20%22ada%40example.com%22`, { headers: { authorization: `Bearer ${WRONG}` } });
        await response.arrayBuffer();
        statuses[response.status] = (statuses[response.status] ?? 0) + 1;
      }
    };
    const created: number[] = [];
    const create = async (index: number) => {
      const response = await fetch(`${baseUrl}/scim/v2/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify({ schemas: [CORE_USER], userName: `flood-${index}@example.com`, externalId: `flood-${index}` }),
      });
      await response.arrayBuffer();
      created.push(response.status);
    };
    // The client is known before the flood: a token that verified passes its address's spent budget
    // (src/auth/failures.ts), as an identity provider that was working before an attack would.
    await create(0);
    const client = async () => {
      for (let index = 1; index < CREATES; index++) await create(index);
    };
    await Promise.all([...Array.from({ length: 8 }, flooder), client()]);

    expect(created).toEqual(Array.from({ length: CREATES }, () => 201));
    expect((statuses[401] ?? 0) + (statuses[429] ?? 0)).toBe(FLOOD);
    // The budget's 20 reach express (401); every other one is refused at the front door.
    expect(statuses[401]).toBeLessThanOrEqual(21);

    // What jml writes at the end of each window (and at shutdown): one row per window and address.
    await authFailures.flush();
    const rows = await database.query<{ data: { count: number } }>(`SELECT data FROM audit_event WHERE action = 'auth.failed'`);
    expect(rows.length - Number(before!.count)).toBe(1);
    expect(rows.reduce((sum, row) => sum + row.data.count, 0)).toBe(FLOOD);
    // 10,000 HTTP requests took 50 s at load average 15: room for a busier machine than the suite's 60 s.
  }, 600_000);
});
