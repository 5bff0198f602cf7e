// GET /api/audit and GET /api/evidence/:idOrUserName over jml's HTTP app and a test database
// (no Temporal: the SCIM writes record lifecycle events and audit rows in their transaction).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { logger } from '../../src/logger.js';
import { verifyAndRecord } from '../../src/audit/chain-verifier.js';
import { integrated } from '../support/audit.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { listen, scimOptions } from '../support/scim-app.js';
import { CORE_USER, PATCH_OP, scimClient } from '../support/scim-client.js';

interface Page {
  rows: { id: number; seq: number | null; actor: string; action: string; identityId: string | null }[];
  nextCursor: string | null;
  error?: string;
  errors?: { field: string }[];
}

let database: TestDatabase;
let baseUrl: string;
let close: () => Promise<void>;
let operatorToken: string;
let graceId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const app = createApp({
    db: database.db,
    scim: scimOptions(database.db),
    operator: { db: database.db, verifyToken: createTokenVerifier({ db: database.db }), authFailures: new AuthFailureGuard({ db: database.db, logger }), logger, onOutboxWritten: () => {} },
  });
  const server = await listen(app);
  baseUrl = server.baseUrl;
  close = () => new Promise((resolve) => server.server.close(() => resolve()));
  operatorToken = (await createToken(database.db, { name: 'alice', kind: 'operator' })).token;
  const scim = scimClient(`${baseUrl}/scim/v2`, (await createToken(database.db, { name: 'okta', kind: 'scim' })).token);
  for (const userName of ['grace', 'alan']) {
    const created = await scim.post('/Users', { schemas: [CORE_USER], userName, active: true });
    expect(created.status).toBe(201);
    if (userName === 'grace') graceId = created.body.id;
  }
  expect((await scim.patch(`/Users/${graceId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] })).status).toBe(200);
});

afterAll(async () => {
  await close();
  await database.drop();
});

async function get<T = Page>(path: string, token: string | null = operatorToken): Promise<{ status: number; body: T }> {
  const response = await fetch(`${baseUrl}/api${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as T };
}

describe('GET /api/audit', () => {
  it("filters by identity (id or userName), actor and action prefix", async () => {
    const grace = await get(`/audit?identity=${graceId}`);
    expect(grace.status).toBe(200);
    expect(grace.body.rows.map((row) => row.action)).toEqual(['scim.user.created', 'lifecycle.joiner.detected', 'scim.user.replaced', 'lifecycle.leaver.detected']);
    expect((await get('/audit?identity=GRACE')).body.rows).toEqual(grace.body.rows);
    expect((await get('/audit?action=lifecycle.*&actor=okta')).body.rows.map((row) => row.action)).toEqual([
      'lifecycle.joiner.detected',
      'lifecycle.joiner.detected',
      'lifecycle.leaver.detected',
    ]);
    expect((await get('/audit?from=2000-01-01&to=2000-01-02')).body).toEqual({ rows: [], nextCursor: null });
  });

  it('pages with a cursor, oldest first, without gaps or repeats', async () => {
    const all = (await get('/audit?limit=1000')).body.rows;
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Page } = await get(`/audit?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.rows.map((row) => row.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(all.map((row) => row.id));
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('names each invalid parameter in a 400, and wants an operator token', async () => {
    const bad = await get('/audit?limit=0&from=yesterday&cursor=zzz&colour=blue');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('InvalidRequest');
    expect(bad.body.errors?.map((entry) => entry.field).sort()).toEqual(['colour', 'cursor', 'from', 'limit']);
    expect((await get('/audit', null)).status).toBe(401);
  });
});

describe('GET /api/evidence/:idOrUserName', () => {
  it("returns a person's story, and 404 for nobody", async () => {
    await verifyAndRecord(await integrated(database.db), 'test');
    const evidence = await get<{ people: { identity: { id: string; active: boolean }; events: { kind: string }[]; rows: { failed: unknown[] } }[]; chain: unknown }>('/evidence/grace');
    expect(evidence.status).toBe(200);
    expect(evidence.body.people.map((person) => ({ id: person.identity.id, active: person.identity.active, kinds: person.events.map((event) => event.kind), failed: person.rows.failed }))).toEqual([
      { id: graceId, active: false, kinds: ['joiner', 'leaver'], failed: [] },
    ]);
    expect(evidence.body.chain).toMatchObject({ verification: { ok: true, verifiedBy: 'test' }, pending: { rows: 0 } });
    const missing = await get<{ error: string; detail: string }>('/evidence/nobody');
    expect(missing).toEqual({ status: 404, body: { error: 'PersonNotFound', detail: expect.stringContaining('nobody') as unknown } });
  });
});
