// SCIM Bulk (RFC 7644 §3.7): each operation commits on its own exactly as the same request sent
// alone would (events, outbox, audit); bulkId references resolve in any order; failOnErrors stops
// the run; the limits advertised in /ServiceProviderConfig are enforced before anything runs; and
// Microsoft's API-driven inbound provisioning payloads are accepted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORE_USER, PATCH_OP, type ScimResponse } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';
const CSV = 'urn:ietf:params:scim:schemas:extension:csv:1.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

interface BulkResult {
  method: string;
  bulkId?: string;
  location?: string;
  version?: string;
  status: string;
  response?: { scimType?: string; detail: string; status: string; schemas: string[] };
}
type BulkResponse = ScimResponse<{ schemas: string[]; Operations: BulkResult[] }>;

let jml: ScimApp;

beforeAll(async () => {
  jml = await startScimApp();
});

afterAll(async () => {
  await jml.close();
});

const bulk = (body: Record<string, unknown>, app: ScimApp = jml) => app.scim.post('/Bulk', { schemas: [BULK_REQUEST], ...body }) as unknown as Promise<BulkResponse>;

async function eventKinds(app: ScimApp, userName: string): Promise<string[]> {
  const rows = await app.database.query<{ kind: string }>(
    `SELECT e.kind FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE i.user_name = $1 ORDER BY e.created_at, e.id`, [userName]);
  return rows.map((row) => row.kind);
}

describe('POST /Bulk', () => {
  it('runs creates, references, a PATCH with a termination date and a delete, each as its own request would', async () => {
    const leaving = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'bulk.leaver@example.com', active: true });
    const response = await bulk({
      Operations: [
        { method: 'POST', bulkId: 'ada', path: '/Users', data: { schemas: [CORE_USER], userName: 'bulk.ada@example.com', displayName: 'Ada', active: true } },
        { method: 'POST', bulkId: 'team', path: '/Groups', data: { schemas: [GROUP], displayName: 'Bulk team', members: [{ value: 'bulkId:ada' }] } },
        {
          method: 'PATCH',
          path: '/Users/bulkId:ada',
          data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${LIFECYCLE}:terminationDate`, value: '2099-01-01T00:00:00Z' }] },
        },
        { method: 'DELETE', path: `/Users/${leaving.body.id}` },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body.schemas).toEqual([BULK_RESPONSE]);
    const [created, group, patched, deleted] = response.body.Operations;
    expect(created).toMatchObject({ method: 'POST', bulkId: 'ada', status: '201', version: 'W/"1"' });
    expect(created!.location).toMatch(/\/Users\/[0-9a-f-]{36}$/);
    const adaId = created!.location!.split('/').pop()!;
    expect(group).toMatchObject({ method: 'POST', bulkId: 'team', status: '201' });
    expect(patched).toMatchObject({ method: 'PATCH', status: '200' });
    expect(patched!.location).toContain(`/Users/${adaId}`);
    expect(deleted).toMatchObject({ method: 'DELETE', status: '204' });
    const read = await jml.scim.get(`/Groups/${group!.location!.split('/').pop()!}`);
    expect(read.body.members).toEqual([expect.objectContaining({ value: adaId, display: 'Ada' })]);
    expect(await eventKinds(jml, 'bulk.ada@example.com')).toEqual(['joiner', 'mover', 'leaver']);
    expect(await eventKinds(jml, 'bulk.leaver@example.com')).toEqual(['joiner', 'leaver']);
    const [scheduled] = await jml.database.query<{ effective_at: Date | null }>(
      "SELECT e.effective_at FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE i.user_name = 'bulk.ada@example.com' AND e.kind = 'leaver'");
    expect(scheduled!.effective_at?.toISOString()).toBe('2099-01-01T00:00:00.000Z');
    const audit = await jml.database.query<{ action: string }>("SELECT action FROM audit_event WHERE action LIKE 'scim.%' AND actor = 'idp-test' ORDER BY seq DESC LIMIT 5");
    expect(audit.map((row) => row.action).sort()).toEqual(['scim.group.created', 'scim.user.created', 'scim.user.created', 'scim.user.deleted', 'scim.user.replaced'].sort());
  });

  it('resolves a reference to a POST later in the request by running that POST first', async () => {
    const response = await bulk({
      Operations: [
        { method: 'POST', bulkId: 'late-group', path: '/Groups', data: { schemas: [GROUP], displayName: 'Forward', members: [{ value: 'bulkId:late-user' }] } },
        { method: 'POST', bulkId: 'late-user', path: '/Users', data: { schemas: [CORE_USER], userName: 'bulk.late@example.com' } },
      ],
    });
    expect(response.body.Operations.map((result) => [result.bulkId, result.status])).toEqual([['late-group', '201'], ['late-user', '201']]);
  });

  it('fails an operation on its own, with an RFC 7644 error, and goes on; failOnErrors stops the run', async () => {
    const response = await bulk({
      Operations: [
        { method: 'POST', bulkId: 'bad', path: '/Users', data: { schemas: [CORE_USER] } },
        { method: 'PATCH', path: '/Users/bulkId:bad', data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] } },
        { method: 'POST', bulkId: 'ref', path: '/Groups', data: { schemas: [GROUP], displayName: 'x', members: [{ value: 'bulkId:nowhere' }] } },
        { method: 'POST', path: '/Users', data: { schemas: [CORE_USER], userName: 'bulk.nobulkid@example.com' } },
        { method: 'DELETE', path: '/Users/00000000-0000-4000-8000-000000000000' },
        { method: 'POST', bulkId: 'fine', path: '/Users', data: { schemas: [CORE_USER], userName: 'bulk.fine@example.com' } },
      ],
    });
    expect(response.body.Operations.map((result) => [result.status, result.response?.scimType ?? null])).toEqual([
      ['400', 'invalidValue'],
      ['412', null],
      ['400', 'invalidValue'],
      ['400', 'invalidSyntax'],
      ['404', null],
      ['201', null],
    ]);
    for (const result of response.body.Operations.slice(0, 5)) expect(result.response).toMatchObject({ schemas: [ERROR], status: result.status });

    const stopped = await bulk({
      failOnErrors: 1,
      Operations: [
        { method: 'DELETE', path: '/Users/00000000-0000-4000-8000-000000000000' },
        { method: 'POST', bulkId: 'never', path: '/Users', data: { schemas: [CORE_USER], userName: 'bulk.never@example.com' } },
      ],
    });
    expect(stopped.body.Operations.map((result) => result.status)).toEqual(['404']);
    expect((await jml.scim.get<{ totalResults: number }>('/Users?filter=userName eq "bulk.never@example.com"')).body.totalResults).toBe(0);
  });

  it('refuses a request over the advertised limits with 413 before running any of it', async () => {
    const small = await startScimApp({ bulk: { maxOperations: 2, maxPayloadSize: 2048 } });
    try {
      const config = await small.scim.get('/ServiceProviderConfig');
      expect(config.body).toMatchObject({ bulk: { supported: true, maxOperations: 2, maxPayloadSize: 2048 } });
      const create = (index: number) => ({ method: 'POST', bulkId: `u${index}`, path: '/Users', data: { schemas: [CORE_USER], userName: `limit${index}@example.com` } });
      const tooMany = await bulk({ Operations: [create(1), create(2), create(3)] }, small);
      expect(tooMany.status).toBe(413);
      expect(tooMany.body).toMatchObject({ schemas: [ERROR], status: '413' });
      const tooLarge = await bulk({ Operations: [{ ...create(4), data: { ...create(4).data, displayName: 'x'.repeat(4096) } }] }, small);
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.body).toMatchObject({ schemas: [ERROR], status: '413' });
      expect(String((tooLarge.body as unknown as { detail: string }).detail)).toContain('2048');
      const [{ count }] = (await small.database.query<{ count: string }>('SELECT count(*) FROM identity')) as [{ count: string }];
      expect(Number(count)).toBe(0);
    } finally {
      await small.close();
    }
  });

  it('accepts Microsoft API-driven inbound provisioning payloads: upserts on externalId, reads a termination date from the HR extension', async () => {
    const worker = (department: string, extra: Record<string, unknown> = {}) => ({
      method: 'POST',
      bulkId: `hr-${department}`,
      path: '/Users',
      data: {
        schemas: [CORE_USER, ENTERPRISE, CSV],
        externalId: '701984',
        userName: 'bjensen@contoso.example',
        name: { formatted: 'Ms. Barbara J Jensen, III', familyName: 'Jensen', givenName: 'Barbara' },
        displayName: 'Babs Jensen',
        active: true,
        emails: [{ value: 'bjensen@contoso.example', type: 'work', primary: true }],
        [ENTERPRISE]: { employeeNumber: '701984', costCenter: '4130', organization: 'Contoso', division: 'Theme Parks', department },
        [CSV]: { HireDate: '2021-05-01T00:00:00-05:00', ...extra },
      },
    });
    const first = await bulk({ failOnErrors: 10, Operations: [worker('Tour Operations')] });
    expect(first.body.Operations[0]).toMatchObject({ status: '201' });
    const moved = await bulk({ Operations: [worker('Finance')] });
    expect(moved.body.Operations[0]).toMatchObject({ status: '200', location: first.body.Operations[0]!.location });
    const leaving = await bulk({ Operations: [worker('Finance', { TerminationDate: '2099-06-30T00:00:00Z' })] });
    expect(leaving.body.Operations[0]).toMatchObject({ status: '200' });
    const read = await jml.scim.get(first.body.Operations[0]!.location!.replace(/^.*\/scim\/v2/, ''));
    expect(read.body).toMatchObject({ [ENTERPRISE]: { department: 'Finance' }, [LIFECYCLE]: { terminationDate: '2099-06-30T00:00:00.000Z' } });
    expect(read.body).not.toHaveProperty(CSV);
    expect(await eventKinds(jml, 'bjensen@contoso.example')).toEqual(['joiner', 'mover', 'leaver']);
  });
});

describe('Bulk and single requests land the same', () => {
  it('120 mixed operations (creates, PATCHes with termination dates, leavers) make exactly the events the same single requests make', async () => {
    const single = await startScimApp();
    try {
      const people = Array.from({ length: 40 }, (_, index) => `same${index}@example.com`);
      // Creates first (as single requests or as Bulk POSTs), then per person a termination date or a deactivation.
      const creates = people.map((userName, index) => ({ method: 'POST', bulkId: `p${index}`, path: '/Users', data: { schemas: [CORE_USER], userName, active: true } }));
      const changes = people.flatMap((_, index) => [
        index % 2 === 0
          ? { method: 'PATCH', path: `/Users/bulkId:p${index}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'add', path: `${LIFECYCLE}:terminationDate`, value: '2099-01-01T00:00:00Z' }] } }
          : { method: 'PATCH', path: `/Users/bulkId:p${index}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] } },
        index % 3 === 0
          ? { method: 'DELETE', path: `/Users/bulkId:p${index}` }
          : { method: 'PATCH', path: `/Users/bulkId:p${index}`, data: { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Engineer' }] } },
      ]);
      const response = await bulk({ Operations: [...creates, ...changes] });
      expect(response.body.Operations).toHaveLength(120);
      expect(response.body.Operations.filter((result) => !/^2/.test(result.status))).toEqual([]);

      const ids = new Map<string, string>();
      for (const [index, create] of creates.entries()) {
        const created = await single.scim.post('/Users', create.data);
        ids.set(`p${index}`, created.body.id);
      }
      for (const change of changes) {
        const path = change.path.replace(/bulkId:(\w+)/, (_whole, id: string) => ids.get(id)!);
        const answer = change.method === 'DELETE' ? await single.scim.delete(path) : await single.scim.patch(path, change.data);
        expect(answer.status).toBeLessThan(300);
      }
      for (const userName of people) expect([userName, await eventKinds(jml, userName)]).toEqual([userName, await eventKinds(single, userName)]);
    } finally {
      await single.close();
    }
  }, 180_000);
});
