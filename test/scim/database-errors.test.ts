// Errors say whose fault they are (issue 15, src/db/errors.ts): a value the request carried that
// PostgreSQL cannot take is a 400 with an RFC 7644 body; the database being away is a 503 with
// Retry-After; every 5xx is logged with the request id the response carries.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDatabase, poolOf, type Database } from '../../src/db/client.js';
import { classifyDatabaseError } from '../../src/db/errors.js';
import { logger } from '../../src/logger.js';
import { freePort } from '../../src/infra/temporal-server.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

let app: ScimApp;
let unreachable: Database;
let unreachableApp: ScimApp;

beforeAll(async () => {
  app = await startScimApp();
  // Nothing listens there: every query fails to connect.
  unreachable = createDatabase(`postgresql://jml@127.0.0.1:${await freePort()}/jml`, { poolSize: 1, connectionWaitMs: 500 });
  unreachableApp = await startScimApp({ db: unreachable });
});

afterAll(async () => {
  await app?.close();
  await unreachableApp?.close();
  await unreachable?.$disconnect();
});

const rejection = async (work: () => Promise<unknown>): Promise<unknown> => {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
};

describe('classifying database errors by SQLSTATE', () => {
  it('data exceptions (22) are the request\'s: through Prisma and through the pg pool', async () => {
    const { db } = app.database;
    expect(classifyDatabaseError(await rejection(() => db.$queryRaw`SELECT ${'abc'}::int`))).toBe('invalid-input'); // 22P02
    expect(classifyDatabaseError(await rejection(() => db.$queryRaw`SELECT ${3_000_000_000}::int`))).toBe('invalid-input'); // 22003
    const pool = await poolOf(db);
    expect(classifyDatabaseError(await rejection(() => pool.query('SELECT 1 OFFSET -1')))).toBe('invalid-input'); // 2201X
  });

  it('a database that is not there, or ends the connection, is unavailable', async () => {
    expect(classifyDatabaseError(await rejection(() => unreachable.$queryRaw`SELECT 1`))).toBe('unavailable');
    const client = new pg.Client({ connectionString: app.database.url });
    await client.connect();
    client.on('error', () => {});
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
    await app.database.query('SELECT pg_terminate_backend($1)', [pid]); // 57P01 admin_shutdown
    expect(classifyDatabaseError(await rejection(() => client.query('SELECT 1')))).toBe('unavailable');
    await client.end().catch(() => {});
  });

  it('any other SQLSTATE is ours: internal', async () => {
    expect(classifyDatabaseError(await rejection(() => app.database.db.$queryRawUnsafe('SELECT * FROM no_such_table')))).toBe('internal'); // 42P01
    expect(classifyDatabaseError(new Error('something else'))).toBeUndefined();
  });
});

describe('over SCIM', () => {
  it('an out-of-range startIndex is a 400 invalidValue with an RFC 7644 body, not an outage', async () => {
    const response = await app.scim.get('/Users?startIndex=3000000000');
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      status: '400',
      scimType: 'invalidValue',
      detail: expect.stringContaining('out of range') as unknown,
    });
    expect(response.headers.get('retry-after')).toBeNull();
  });

  it('the database away is a 503 with Retry-After, logged once with the request id the response carries', async () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => undefined);
    try {
      const response = await unreachableApp.scim.get('/Users');
      expect(response.status).toBe(503);
      expect(response.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '503' });
      expect(response.headers.get('retry-after')).toBe('5');
      const requestId = response.headers.get('x-request-id');
      expect(requestId).toBeTruthy();
      const logged = warn.mock.calls.filter(([fields]) => (fields as { requestId?: string }).requestId === requestId);
      expect(logged.map(([, message]) => message)).toEqual(['SCIM request failed']);
    } finally {
      warn.mockRestore();
    }
  });
});
