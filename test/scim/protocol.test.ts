// RFC 7644 over HTTP against the real PostgreSQL: discovery, lists, projections, versions and
// every error a client can provoke.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createDatabase } from '../../src/db/client.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import { CORE_USER, PATCH_OP, scimClient, type ScimResource } from '../support/scim-client.js';
import { listen, scimOptions, startScimApp, type ScimApp } from '../support/scim-app.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';

interface ListBody {
  schemas: string[];
  totalResults: number;
  itemsPerPage: number;
  startIndex: number;
  Resources: ScimResource[];
}

let jml: ScimApp;
const ids: Record<string, string> = {};

const people = [
  { userName: 'alice', givenName: 'Alice', title: 'Engineer', department: 'Engineering', email: 'alice@example.com' },
  { userName: 'Bob', givenName: 'Bob', title: 'Manager', department: 'Sales', email: 'bob@example.org' },
  { userName: 'carol', givenName: 'Carol', title: null, department: 'Engineering', email: 'carol@example.com' },
  { userName: 'dave', givenName: 'Dave', title: 'Engineer', department: 'Support', email: 'dave@EXAMPLE.com' },
  { userName: 'erin', givenName: 'Erin', title: 'Director', department: 'Sales', email: 'erin@example.net' },
];

beforeAll(async () => {
  jml = await startScimApp();
  for (const person of people) {
    const created = await jml.scim.post('/Users', {
      schemas: [CORE_USER, ENTERPRISE],
      userName: person.userName,
      externalId: `ext-${person.userName.toLowerCase()}`,
      name: { givenName: person.givenName, familyName: 'Example' },
      ...(person.title ? { title: person.title } : {}),
      emails: [{ value: person.email, type: 'work', primary: true }],
      [ENTERPRISE]: { department: person.department, employeeNumber: String(people.indexOf(person) + 100) },
    });
    expect(created.status).toBe(201);
    ids[person.userName.toLowerCase()] = created.body.id;
  }
});

afterAll(async () => {
  await jml.close();
});

const list = (query: string) => jml.scim.get<ListBody>(`/Users?${query}`);
const names = (body: ListBody) => body.Resources.map((user) => String(user.userName));

describe('discovery (RFC 7644 §4)', () => {
  it('advertises what is implemented: patch, filter, sort, etag and bulk (with its limits) on; password change off', async () => {
    const config = await jml.scim.get('/ServiceProviderConfig');
    expect(config.status).toBe(200);
    expect(config.body).toMatchObject({
      patch: { supported: true },
      bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 4 * 1024 * 1024 },
      filter: { supported: true, maxResults: 200 },
      sort: { supported: true },
      etag: { supported: true },
      changePassword: { supported: false },
      authenticationSchemes: [expect.objectContaining({ type: 'oauthbearertoken' })],
    });
  });

  it('lists Users with the EnterpriseUser and jml lifecycle extensions, and Groups, and serves their schemas', async () => {
    const types = await jml.scim.get<ListBody>('/ResourceTypes');
    const user = types.body.Resources.find((type) => type.id === 'User');
    expect(user).toMatchObject({
      endpoint: '/Users',
      schema: CORE_USER,
      schemaExtensions: [{ schema: ENTERPRISE, required: false }, { schema: LIFECYCLE, required: false }],
    });
    expect(types.body.Resources.find((type) => type.id === 'Group')).toMatchObject({ endpoint: '/Groups' });
    const schema = await jml.scim.get(`/Schemas/${ENTERPRISE}`);
    expect(schema.status).toBe(200);
    expect((schema.body.attributes as { name: string }[]).map((attribute) => attribute.name)).toContain('employeeNumber');
    const lifecycle = await jml.scim.get(`/Schemas/${LIFECYCLE}`);
    expect(lifecycle.body.attributes).toEqual([expect.objectContaining({ name: 'terminationDate', type: 'dateTime', mutability: 'readWrite' })]);
  });
});

describe('lists (RFC 7644 §3.4.2)', () => {
  it('filters with every comparison operator', async () => {
    expect(names((await list('filter=userName eq "ALICE"')).body)).toEqual(['alice']);
    expect(names((await list('filter=userName ne "alice"&sortBy=userName')).body)).toEqual(['Bob', 'carol', 'dave', 'erin']);
    expect(names((await list('filter=emails co "example.com"&sortBy=userName')).body)).toEqual(['alice', 'carol', 'dave']);
    expect(names((await list('filter=userName sw "c"')).body)).toEqual(['carol']);
    expect(names((await list('filter=emails.value ew ".org"')).body)).toEqual(['Bob']);
    expect(names((await list('filter=title pr&sortBy=userName')).body)).toEqual(['alice', 'Bob', 'dave', 'erin']);
    expect(names((await list(`filter=${ENTERPRISE}:employeeNumber gt "102"&sortBy=userName`)).body)).toEqual(['dave', 'erin']);
    expect(names((await list(`filter=${ENTERPRISE}:employeeNumber ge "103"&sortBy=userName`)).body)).toEqual(['dave', 'erin']);
    expect(names((await list(`filter=${ENTERPRISE}:employeeNumber lt "101"`)).body)).toEqual(['alice']);
    expect(names((await list(`filter=${ENTERPRISE}:employeeNumber le "101"&sortBy=userName`)).body)).toEqual(['alice', 'Bob']);
  });

  it('combines with and, or, not, grouping and value paths, including forms scimmy itself mis-parses', async () => {
    // An attribute name without its schema URN finds the extension's attribute (RFC 7644 §3.10).
    expect(names((await list('filter=title eq "Engineer" and department eq "Support"')).body)).toEqual(['dave']);
    expect(names((await list(`filter=title eq "Engineer" and ${ENTERPRISE}:department eq "Support"`)).body)).toEqual(['dave']);
    expect(names((await list('filter=userName eq "alice" or userName eq "erin"&sortBy=userName')).body)).toEqual(['alice', 'erin']);
    expect(names((await list('filter=not (userName eq "alice" or userName eq "Bob")&sortBy=userName')).body)).toEqual(['carol', 'dave', 'erin']);
    expect(names((await list('filter=userName eq "carol" and (emails co "example" or not (title pr))')).body)).toEqual(['carol']);
    expect(names((await list('filter=emails[type eq "work" and value ew "example.net"]')).body)).toEqual(['erin']);
  });

  it('answers a filter that matches nothing with 200 and zero results', async () => {
    const response = await list('filter=userName eq "nobody"');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ schemas: [LIST], totalResults: 0, itemsPerPage: 0, startIndex: 1, Resources: [] });
  });

  it('pages with startIndex and count, and totalResults counts the whole match', async () => {
    const page = await list('sortBy=userName&startIndex=2&count=2');
    expect(page.body).toMatchObject({ totalResults: 5, itemsPerPage: 2, startIndex: 2 });
    expect(names(page.body)).toEqual(['Bob', 'carol']);
    const last = await list('sortBy=userName&startIndex=5&count=2');
    expect(names(last.body)).toEqual(['erin']);
    const past = await list('sortBy=userName&startIndex=9&count=2');
    expect(past.body).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
    const none = await list('count=0');
    expect(none.body).toMatchObject({ totalResults: 5, itemsPerPage: 0 });
  });

  it('sorts ascending and descending, case-insensitively for userName', async () => {
    expect(names((await list('sortBy=userName&sortOrder=descending')).body)).toEqual(['erin', 'dave', 'carol', 'Bob', 'alice']);
    expect(names((await list('sortBy=name.givenName&sortOrder=ascending')).body)).toEqual(['alice', 'Bob', 'carol', 'dave', 'erin']);
  });

  it('returns only the requested attributes, or all but the excluded ones', async () => {
    const only = await list('filter=userName eq "alice"&attributes=userName,emails');
    const [alice] = only.body.Resources;
    expect(alice).toMatchObject({ id: ids.alice, userName: 'alice', emails: [expect.objectContaining({ value: 'alice@example.com' })] });
    expect(alice).not.toHaveProperty('name');
    expect(alice).not.toHaveProperty('title');
    // RFC 7643 §3: schemas is part of every resource, whichever attributes are asked for.
    expect(alice!.schemas).toContain('urn:ietf:params:scim:schemas:core:2.0:User');
    const without = await list('filter=userName eq "alice"&excludedAttributes=emails,name');
    expect(without.body.Resources[0]).toMatchObject({ userName: 'alice', title: 'Engineer' });
    expect(without.body.Resources[0]).not.toHaveProperty('emails');
  });

  it('searches with POST /Users/.search (RFC 7644 §3.4.3)', async () => {
    const response = await jml.scim.post<ListBody>('/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'title eq "Engineer"',
      sortBy: 'userName',
      attributes: ['userName'],
      count: 10,
    });
    expect(response.status).toBe(200);
    expect(names(response.body)).toEqual(['alice', 'dave']);
  });

  it('rejects malformed lists with RFC 7644 §3.12 errors', async () => {
    for (const [query, scimType] of [
      ['filter=userName eq', 'invalidFilter'],
      ['filter=userName zz "a"', 'invalidFilter'],
      ['filter=noSuchAttribute eq "a"', 'invalidFilter'],
      ['filter=active gt true', 'invalidFilter'],
      ['startIndex=first', 'invalidValue'],
      ['sortBy=noSuchAttribute', 'invalidValue'],
    ] as const) {
      const response = await jml.scim.get(`/Users?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body, query).toMatchObject({ schemas: [ERROR], status: '400', scimType });
    }
  });
});

describe('versions (RFC 7644 §3.14)', () => {
  it('sends the version as ETag, answers If-None-Match with 304, and refuses a stale If-Match with 412', async () => {
    const id = ids.carol!;
    const read = await jml.scim.get(`/Users/${id}`);
    const etag = read.headers.get('etag');
    expect(etag).toBe(read.body.meta.version);
    expect((await jml.scim.call('GET', `/Users/${id}`, undefined, { 'if-none-match': etag! })).status).toBe(304);

    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Lead' }] };
    const updated = await jml.scim.call('PATCH', `/Users/${id}`, patch, { 'if-match': etag! });
    expect(updated.status).toBe(200);
    expect(updated.headers.get('etag')).not.toBe(etag);

    const stale = await jml.scim.call('PATCH', `/Users/${id}`, { ...patch, Operations: [{ op: 'replace', path: 'title', value: 'Stale' }] }, { 'if-match': etag! });
    expect(stale.status).toBe(412);
    expect(stale.body).toMatchObject({ schemas: [ERROR], status: '412' });
    const stalePut = await jml.scim.call('PUT', `/Users/${id}`, { schemas: [CORE_USER], userName: 'carol' }, { 'if-match': etag! });
    expect(stalePut.status).toBe(412);
    expect((await jml.scim.get(`/Users/${id}`)).body.title).toBe('Lead');
  });

  it('applies concurrent PATCHes to one user without losing either', async () => {
    const id = ids.dave!;
    const ops = (op: object) => ({ schemas: [PATCH_OP], Operations: [op] });
    const results = await Promise.all([
      jml.scim.patch(`/Users/${id}`, ops({ op: 'replace', path: 'title', value: 'Principal' })),
      jml.scim.patch(`/Users/${id}`, ops({ op: 'replace', path: 'nickName', value: 'D' })),
      jml.scim.patch(`/Users/${id}`, ops({ op: 'replace', path: 'displayName', value: 'Dave E.' })),
    ]);
    expect(results.map((result) => result.status)).toEqual([200, 200, 200]);
    const after = await jml.scim.get(`/Users/${id}`);
    expect(after.body).toMatchObject({ title: 'Principal', nickName: 'D', displayName: 'Dave E.' });
  });
});

describe('PATCH forms (RFC 7644 §3.5.2)', () => {
  const patch = (id: string, ...Operations: object[]) => jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations });

  it('adds, replaces and removes with a path, a value path and no path', async () => {
    const id = ids.erin!;
    expect((await patch(id, { op: 'add', path: 'nickName', value: 'E' })).body.nickName).toBe('E');
    expect((await patch(id, { op: 'replace', path: 'emails[type eq "work"].value', value: 'erin@new.example' })).body.emails).toEqual([
      expect.objectContaining({ type: 'work', value: 'erin@new.example' }),
    ]);
    const pathless = await patch(id, { op: 'replace', value: { title: 'VP', 'name.givenName': 'Erin Q.' } });
    expect(pathless.body).toMatchObject({ title: 'VP', name: { givenName: 'Erin Q.', familyName: 'Example' } });
    const removed = await patch(id, { op: 'remove', path: 'nickName' });
    expect(removed.body).not.toHaveProperty('nickName');
    const [row] = await jml.database.query<{ email: string; title: string }>('SELECT email, title FROM identity WHERE id = $1', [id]);
    expect(row).toEqual({ email: 'erin@new.example', title: 'VP' });
  });

  it('creates a missing entry for add/replace of emails[type eq "home"].value, as Entra expects', async () => {
    const response = await patch(ids.alice!, { op: 'Add', path: 'emails[type eq "home"].value', value: 'alice@home.example' });
    expect(response.status).toBe(200);
    expect(response.body.emails).toEqual(expect.arrayContaining([
      expect.objectContaining({ type: 'work', value: 'alice@example.com' }),
      expect.objectContaining({ type: 'home', value: 'alice@home.example' }),
    ]));
  });

  it('accepts URN-qualified extension attributes, with and without a path, and a bare manager id', async () => {
    const id = ids.bob!;
    await patch(id, { op: 'replace', path: `${ENTERPRISE}:department`, value: 'Marketing' });
    await patch(id, { op: 'Replace', value: { [`${ENTERPRISE}:employeeNumber`]: '555' } });
    const managed = await patch(id, { op: 'Add', path: `${ENTERPRISE}:manager`, value: ids.erin });
    expect(managed.body[ENTERPRISE]).toMatchObject({ department: 'Marketing', employeeNumber: '555', manager: { value: ids.erin } });
    const [row] = await jml.database.query<{ department: string; manager_id: string }>('SELECT department, manager_id FROM identity WHERE id = $1', [id]);
    expect(row).toEqual({ department: 'Marketing', manager_id: ids.erin });
  });

  it('refuses an invalid operation with 400 and a scimType', async () => {
    const response = await patch(ids.bob!, { op: 'explode', path: 'title', value: 'x' });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ schemas: [ERROR], status: '400' });
    const noTarget = await patch(ids.bob!, { op: 'replace', path: 'emails[type eq "fax" and value eq "x"].display', value: 'x' });
    expect(noTarget.status).toBe(400);
    expect(noTarget.body).toMatchObject({ scimType: 'noTarget' });
    // Removing what is already gone changes nothing: a retried removal stays harmless.
    expect((await patch(ids.bob!, { op: 'remove', path: 'emails[type eq "fax"]' })).status).toBe(204);
  });
});

describe('PUT and DELETE', () => {
  it('replaces the whole resource on PUT: attributes left out are gone', async () => {
    const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'frank', title: 'Temp', nickName: 'F' });
    const replaced = await jml.scim.put(`/Users/${created.body.id}`, { schemas: [CORE_USER], userName: 'frank', title: 'Permanent' });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ userName: 'frank', title: 'Permanent' });
    expect(replaced.body).not.toHaveProperty('nickName');
  });

  it('deletes with 204, after which the user is gone (404) but the record and a leaver remain', async () => {
    const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'gone' });
    const deleted = await jml.scim.delete(`/Users/${created.body.id}`);
    expect(deleted.status).toBe(204);
    expect((await jml.scim.get(`/Users/${created.body.id}`)).status).toBe(404);
    expect(names((await list('filter=userName eq "gone"')).body)).toEqual([]);
    const events = await jml.database.query<{ kind: string }>('SELECT kind FROM lifecycle_event WHERE identity_id = $1 ORDER BY created_at', [created.body.id]);
    expect(events.map((event) => event.kind)).toEqual(['joiner', 'leaver']);
    // The userName is free again: the same person can be provisioned anew.
    expect((await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'GONE' })).status).toBe(201);
  });
});

describe('errors (RFC 7644 §3.12)', () => {
  it('answers unknown resources and endpoints with 404 SCIM errors', async () => {
    for (const path of ['/Users/not-a-uuid', '/Users/00000000-0000-4000-8000-000000000000', '/NoSuchEndpoint']) {
      const response = await jml.scim.get(path);
      expect(response.status, path).toBe(404);
      expect(response.body, path).toMatchObject({ schemas: [ERROR], status: '404' });
    }
  });

  it('refuses malformed bodies: bad JSON, wrong types, missing userName', async () => {
    const badJson = await jml.scim.call('POST', '/Users', '{"userName": ');
    expect(badJson.status).toBe(400);
    expect(badJson.body).toMatchObject({ scimType: 'invalidSyntax' });
    const wrongType = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'typed', active: 'sometimes' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toMatchObject({ schemas: [ERROR], scimType: 'invalidValue' });
    const missing = await jml.scim.post('/Users', { schemas: [CORE_USER], displayName: 'No Name' });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ schemas: [ERROR], status: '400' });
  });

  it('refuses a Bulk request without operations: 400 invalidSyntax', async () => {
    const response = await jml.scim.post('/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidSyntax' });
  });

  it('limits each client\'s request rate with 429 and Retry-After, without slowing other clients', async () => {
    const limited = await startScimApp({ rateLimit: { perSecond: 1, burst: 2 } });
    try {
      const statuses = [];
      for (let index = 0; index < 3; index++) statuses.push(await limited.scim.get('/ServiceProviderConfig'));
      expect(statuses.map((response) => response.status)).toEqual([200, 200, 429]);
      expect(statuses[2]!.headers.get('retry-after')).toBe('1');
      expect(statuses[2]!.body).toMatchObject({ schemas: [ERROR], status: '429' });
      const { token } = await createToken(limited.database.db, { name: 'another-idp', kind: 'scim' });
      expect((await scimClient(`${limited.baseUrl}/scim/v2`, token).get('/ServiceProviderConfig')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('answers 503, never 404 or 400, when the database is down', async () => {
    const token = 'x'.repeat(40);
    const unreachable = createDatabase('postgresql://nobody@127.0.0.1:1/none');
    const app = createApp({
      db: unreachable,
      scim: scimOptions(unreachable, { verifyToken: createTokenVerifier({ db: unreachable, environmentTokens: { scim: token } }) }),
    });
    const { server, baseUrl } = await listen(app);
    const down = scimClient(`${baseUrl}/scim/v2`, token);
    try {
      for (const response of [
        await down.get('/Users/00000000-0000-4000-8000-000000000000'),
        await down.get('/Users?filter=userName eq "x"'),
        await down.post('/Users', { schemas: [CORE_USER], userName: 'x' }),
        await down.patch('/Users/00000000-0000-4000-8000-000000000000', { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] }),
      ]) {
        expect(response.status).toBe(503);
        expect(response.body).toMatchObject({ schemas: [ERROR], status: '503' });
      }
      const health = await fetch(`${baseUrl}/health`);
      expect(health.status).toBe(503);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await unreachable.$disconnect();
    }
  });
});
