// An Idempotency-Key on SCIM Bulk (src/scim/bulk-idempotency.ts, decision 032): a resent request
// is answered from PostgreSQL without any operation running twice, even when it holds several
// operations on one person (the case decision 032 says a plain resend gets wrong); a request cut
// short by a crash resumes with only the operations that have no result; a key reused with
// another body is 422, and one whose request is still running elsewhere is 409.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { bodyHash } from '../../src/scim/bulk-idempotency.js';
import { CORE_USER, PATCH_OP, scimClient, type ScimResponse } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

interface BulkResult {
  method: string;
  bulkId?: string;
  location?: string;
  status: string;
  response?: { scimType?: string; detail: string; status: string };
}
type BulkResponse = ScimResponse<{ schemas: string[]; Operations: BulkResult[]; status?: string; detail?: string; scimType?: string }>;

let jml: ScimApp;

beforeAll(async () => {
  jml = await startScimApp();
});

afterAll(async () => {
  await jml.close();
});

function bulkBody(Operations: unknown[]) {
  return { schemas: [BULK_REQUEST], Operations };
}

const send = (body: unknown, key?: string, client = jml.scim) =>
  client.call('POST', '/Bulk', body, key === undefined ? {} : { 'idempotency-key': key }) as unknown as Promise<BulkResponse>;

async function eventKinds(userName: string): Promise<string[]> {
  const rows = await jml.database.query<{ kind: string }>(
    `SELECT e.kind FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE i.user_name = $1 ORDER BY e.created_at, e.id`,
    [userName],
  );
  return rows.map((row) => row.kind);
}

/** A new person and, in the same request, their leaver: unsafe to resend without a key (decision 032). */
function joinerThenLeaver(userName: string) {
  return bulkBody([
    { method: 'POST', bulkId: 'p', path: '/Users', data: { schemas: [CORE_USER], userName, externalId: `ext-${userName}`, active: true } },
    { method: 'PATCH', path: '/Users/bulkId:p', data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] } },
  ]);
}

describe('POST /Bulk with an Idempotency-Key', () => {
  it('answers a resend from the first run and runs nothing twice', async () => {
    const body = joinerThenLeaver('idem.once@example.com');
    const first = await send(body, 'key-once');
    expect(first.status).toBe(200);
    expect(first.body.Operations.map((operation) => operation.status)).toEqual(['201', '200']);

    const again = await send(body, 'key-once');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    // The same body without a key replaces the person with the POST's data (a rehire) and makes
    // them a leaver again; with the key nothing ran a second time.
    expect(await eventKinds('idem.once@example.com')).toEqual(['joiner', 'leaver']);
  });

  it('refuses the same key with another body: 422 with an RFC 7644 error body, and runs nothing', async () => {
    await send(joinerThenLeaver('idem.first@example.com'), 'key-reused');
    const other = await send(joinerThenLeaver('idem.second@example.com'), 'key-reused');
    expect(other.status).toBe(422);
    expect(other.body).toMatchObject({ schemas: [ERROR], status: '422' });
    expect(other.body.detail).toMatch(/Idempotency-Key "key-reused" was already used for a different Bulk request/);
    expect(await eventKinds('idem.second@example.com')).toEqual([]);
  });

  it('keeps each client’s keys apart', async () => {
    const { token } = await createToken(jml.database.db, { name: 'other-idp', kind: 'scim' });
    const other = scimClient(`${jml.baseUrl}/scim/v2`, token);
    await send(joinerThenLeaver('idem.mine@example.com'), 'key-shared');
    const theirs = await send(joinerThenLeaver('idem.theirs@example.com'), 'key-shared', other);
    expect(theirs.status).toBe(200);
    expect(await eventKinds('idem.theirs@example.com')).toEqual(['joiner', 'leaver']);
  });

  it('resumes a request a crash cut short: recorded operations are not run again, and their bulkIds resolve', async () => {
    // What a run killed after its first operation leaves: the person exists, the request's row
    // has no answer, and the POST's result is recorded.
    const userName = 'idem.resumed@example.com';
    const body = joinerThenLeaver(userName);
    const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName, externalId: `ext-${userName}`, active: true });
    const [request] = await jml.database.query<{ id: string }>(
      `INSERT INTO scim_bulk_request (id, client, idempotency_key, body_hash) VALUES (gen_random_uuid(), 'idp-test', 'key-crashed', $1) RETURNING id`,
      [bodyHash(body)],
    );
    const firstResult = { method: 'POST', bulkId: 'p', status: '201', location: created.body.meta.location, version: created.body.meta.version };
    await jml.database.query(`INSERT INTO scim_bulk_operation (request_id, index, result, bulk_id, created_id) VALUES ($1, 0, $2, 'p', $3)`, [
      request!.id,
      JSON.stringify(firstResult),
      created.body.id,
    ]);

    const resent = await send(body, 'key-crashed');
    expect(resent.status).toBe(200);
    expect(resent.body.Operations[0]).toEqual(firstResult);
    expect(resent.body.Operations[1]).toMatchObject({ method: 'PATCH', status: '200', location: created.body.meta.location });
    expect(await eventKinds(userName)).toEqual(['joiner', 'leaver']);
    // Now finished: a further resend is the stored answer.
    expect((await send(body, 'key-crashed')).body).toEqual(resent.body);
  });

  it('answers 409 while another process runs the same request, and resumes once it is gone', async () => {
    const userName = 'idem.busy@example.com';
    const body = joinerThenLeaver(userName);
    const [request] = await jml.database.query<{ id: string }>(
      `INSERT INTO scim_bulk_request (id, client, idempotency_key, body_hash) VALUES (gen_random_uuid(), 'idp-test', 'key-busy', $1) RETURNING id`,
      [bodyHash(body)],
    );
    // Another API process running it holds the request's lock on its own connection.
    const other = new pg.Client({ connectionString: jml.database.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`jml-scim-bulk:${request!.id}`]);
      const busy = await send(body, 'key-busy');
      expect(busy.status).toBe(409);
      expect(busy.body).toMatchObject({ schemas: [ERROR], status: '409' });
      expect(busy.body.detail).toMatch(/still running/);
    } finally {
      // That process dies: its connection, and so its lock, goes with it.
      await other.end();
    }
    const resumed = await send(body, 'key-busy');
    expect(resumed.status).toBe(200);
    expect(await eventKinds(userName)).toEqual(['joiner', 'leaver']);
  });

  it('refuses a malformed key before anything runs', async () => {
    const response = await send(joinerThenLeaver('idem.badkey@example.com'), 'has spaces in it');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ schemas: [ERROR], scimType: 'invalidValue' });
    expect(await eventKinds('idem.badkey@example.com')).toEqual([]);
  });

  it('takes the key quoted as a structured-field string, as the IETF draft writes it', async () => {
    const body = joinerThenLeaver('idem.quoted@example.com');
    const first = await send(body, '"key-quoted"');
    const again = await send(body, 'key-quoted');
    expect(again.body).toEqual(first.body);
    expect(await eventKinds('idem.quoted@example.com')).toEqual(['joiner', 'leaver']);
  });
});
