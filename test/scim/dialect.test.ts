// What SCIM clients send that the RFC means but does not spell that way is accepted for every
// client profile; what the RFC does not allow is refused with the right RFC 7644 §3.12 error type;
// and where the RFC allows two answers, the client's profile picks one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTokenProfile } from '../../src/auth/tokens.js';
import { CLIENT_PROFILES } from '../../src/scim/dialect/index.js';
import { CORE_USER, PATCH_OP, type ScimResource, type scimClient } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

type Client = ReturnType<typeof scimClient>;
interface ListBody {
  totalResults: number;
  Resources: ScimResource[];
}

let jml: ScimApp;
const clients = new Map<string, Client>();

beforeAll(async () => {
  jml = await startScimApp();
  for (const profile of CLIENT_PROFILES) clients.set(profile, await jml.clientFor(profile));
});

afterAll(async () => {
  await jml.close();
});

let serial = 0;
async function createUser(client: Client, attributes: Record<string, unknown> = {}): Promise<ScimResource> {
  serial += 1;
  const response = await client.post('/Users', { schemas: [CORE_USER], userName: `person${serial}@example.com`, displayName: `Person ${serial}`, active: true, ...attributes });
  expect(response.status).toBe(201);
  return response.body;
}

function expectError(response: { status: number; body: unknown }, status: number, scimType?: string) {
  expect(response.status).toBe(status);
  expect(response.body).toMatchObject({ schemas: [ERROR], status: String(status), ...(scimType ? { scimType } : {}) });
}

describe.each(CLIENT_PROFILES)('accepted from a %s client', (profile) => {
  let client: Client;
  beforeAll(() => {
    client = clients.get(profile)!;
  });

  it('filters with unquoted values: bare words, e-mail addresses, numbers, booleans and dates', async () => {
    const user = await createUser(client, { externalId: '01001', emails: [{ value: `unquoted-${profile}@example.com`, type: 'work' }] });
    const userName = user.userName as string;
    for (const filter of [
      `userName eq ${userName}`,
      `externalId eq 01001 and userName eq ${userName}`,
      `active eq true and userName eq ${userName}`,
      `meta.created gt 2000-01-01T00:00:00Z and userName eq ${userName}`,
      `emails[value eq unquoted-${profile}@example.com]`,
      `id eq ${user.id}`,
    ]) {
      const response = await client.get<ListBody>(`/Users?filter=${encodeURIComponent(filter)}`);
      expect(response.status, filter).toBe(200);
      expect(response.body.Resources.map((found) => found.id), filter).toEqual([user.id]);
    }
  });

  it('reads a resource whose attributes are nested under the core schema URN', async () => {
    serial += 1;
    const created = await client.post('/Users', { schemas: [CORE_USER], [CORE_USER]: { userName: `nested${serial}@example.com`, name: { givenName: 'Nes' }, active: true } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ userName: `nested${serial}@example.com`, name: { givenName: 'Nes' }, active: true });
    expect(created.body).not.toHaveProperty(CORE_USER);
    const group = await client.post('/Groups', { schemas: [GROUP], [GROUP]: { displayName: `Nested ${profile}`, members: [created.body.id] } });
    expect(group.status).toBe(201);
    expect(group.body).toMatchObject({ displayName: `Nested ${profile}`, members: [expect.objectContaining({ value: created.body.id })] });
  });

  it('takes group members as a bare id or an array of ids, and shows each with the display name', async () => {
    const [first, second] = [await createUser(client), await createUser(client)];
    const group = await client.post('/Groups', { schemas: [GROUP], displayName: `Bare ${profile}`, members: first.id });
    expect(group.status).toBe(201);
    expect(group.body.members).toEqual([expect.objectContaining({ value: first.id, display: first.displayName, type: 'User' })]);
    const added = await client.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [second.id] }] });
    expect([200, 204]).toContain(added.status);
    const read = await client.get(`/Groups/${group.body.id}`);
    expect((read.body.members as { value: string; display: string }[]).map((member) => [member.value, member.display]).sort()).toEqual(
      [[first.id, first.displayName], [second.id, second.displayName]].sort(),
    );
    const removed = await client.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: first.id }] });
    expect([200, 204]).toContain(removed.status);
    expect(((await client.get(`/Groups/${group.body.id}`)).body.members as { value: string }[]).map((member) => member.value)).toEqual([second.id]);
  });

  it('answers discovery endpoints under other casings and names', async () => {
    for (const path of ['/serviceproviderconfig', '/ServiceProviderConfigs', '/SERVICEPROVIDERCONFIG', '/resourcetypes', '/ResourceType', '/schemas', '/Schema']) {
      const response = await client.get(path);
      expect(response.status, path).toBe(200);
    }
    expect((await client.get('/ResourceType/User')).body).toMatchObject({ id: 'User', endpoint: '/Users' });
  });

  it('ignores query parameters on discovery endpoints (RFC 7644 §4: they SHALL be ignored)', async () => {
    const config = await client.get('/ServiceProviderConfig?filter=invalid&sortBy=id&startIndex=999');
    expect(config.status).toBe(200);
    expect(config.body.schemas).toEqual(['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    const types = await client.get<{ totalResults: number }>('/ResourceTypes?filter=name%20eq%20%22nobody%22&count=0&startIndex=5');
    expect(types.status).toBe(200);
    expect(types.body.totalResults).toBe(2);
    expect((await client.get('/Schemas/urn:ietf:params:scim:schemas:core:2.0:User?attributes=name')).body).toMatchObject({ id: 'urn:ietf:params:scim:schemas:core:2.0:User', name: 'User' });
  });
});

describe('refused as the RFC says, with the exact error type', () => {
  let client: Client;
  let user: ScimResource;
  beforeAll(async () => {
    client = clients.get('generic')!;
    user = await createUser(client);
  });

  it.each([
    ['userName eq', 'a comparison without a value'],
    ['userName eq "unterminated', 'an unterminated string'],
    ['userName eq and title pr', 'a keyword where the value belongs'],
    ['userName regex "a"', 'an operator the RFC does not define'],
    ['meta.created gt yesterday', 'a dateTime compared with a word'],
    ['active eq maybe', 'a boolean compared with a word'],
  ])('filter %j (%s): 400 invalidFilter', async (filter) => {
    expectError(await client.get(`/Users?filter=${encodeURIComponent(filter)}`), 400, 'invalidFilter');
  });

  it('a member that is not a user: 400 invalidValue naming it, and nothing changes', async () => {
    const group = await client.post('/Groups', { schemas: [GROUP], displayName: 'Strict', members: [user.id] });
    for (const missing of ['6f1c2a5e-0000-4000-8000-000000000000', 'nobody']) {
      const response = await client.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: missing }] });
      expectError(response, 400, 'invalidValue');
      expect((response.body as unknown as { detail: string }).detail).toContain(missing);
    }
    const created = await client.post('/Groups', { schemas: [GROUP], displayName: 'Never', members: ['6f1c2a5e-0000-4000-8000-000000000000'] });
    expectError(created, 400, 'invalidValue');
    expect(((await client.get(`/Groups/${group.body.id}`)).body.members as unknown[]).length).toBe(1);
  });

  it('a member that is not an id at all: 400 invalidValue', async () => {
    expectError(await client.post('/Groups', { schemas: [GROUP], displayName: 'Numbers', members: [42] }), 400, 'invalidValue');
  });

  it('a body that is not JSON: 400 invalidSyntax; a PATCH without Operations: 400 invalidSyntax', async () => {
    expectError(await client.call('POST', '/Users', '{"userName": '), 400, 'invalidSyntax');
    expectError(await client.patch(`/Users/${user.id}`, { schemas: [PATCH_OP], operations: 'replace' }), 400, 'invalidSyntax');
  });
});

describe('where RFC 7644 allows two answers, the profile decides', () => {
  it('PATCH of a group: 204 with the new ETag for Entra, 200 with the group for Okta and a generic client', async () => {
    for (const [profile, status] of [['entra', 204], ['okta', 200], ['generic', 200]] as const) {
      const client = clients.get(profile)!;
      const member = await createUser(client);
      const group = await client.post('/Groups', { schemas: [GROUP], displayName: `Answer ${profile}` });
      const response = await client.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: member.id }] }] });
      expect(response.status, profile).toBe(status);
      expect(response.headers.get('etag'), profile).toBe('W/"2"');
      if (status === 200) expect(response.body.members).toEqual([expect.objectContaining({ value: member.id })]);
    }
  });

  it('replace of a work e-mail the person lacks: created for Entra (which sends it), 400 noTarget for Okta (RFC 7644 §3.5.2.3)', async () => {
    const body = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'new@example.com' }] };
    const entra = clients.get('entra')!;
    const forEntra = await createUser(entra);
    const created = await entra.patch(`/Users/${forEntra.id}`, body);
    expect(created.status).toBe(200);
    expect(created.body.emails).toEqual([expect.objectContaining({ type: 'work', value: 'new@example.com' })]);
    const okta = clients.get('okta')!;
    const forOkta = await createUser(okta);
    expectError(await okta.patch(`/Users/${forOkta.id}`, body), 400, 'noTarget');
    // `add` may always create what is missing (RFC 7644 §3.5.2.1).
    expect((await okta.patch(`/Users/${forOkta.id}`, { ...body, Operations: [{ ...body.Operations[0], op: 'add' }] })).status).toBe(200);
  });

  it('a changed profile applies to the next request, and is audited', async () => {
    const client = await jml.clientFor('okta');
    const group = await client.post('/Groups', { schemas: [GROUP], displayName: 'Switching' });
    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Switched' }] };
    expect((await client.patch(`/Groups/${group.body.id}`, patch)).status).toBe(200);
    expect(await setTokenProfile(jml.database.db, 'okta-test', 'entra', 'alice')).toBeGreaterThan(0);
    expect((await client.patch(`/Groups/${group.body.id}`, { ...patch, Operations: [{ ...patch.Operations[0], value: 'Again' }] })).status).toBe(204);
    const audit = await jml.database.query<{ actor: string; data: { from: string; to: string } }>(
      "SELECT actor, data FROM audit_event WHERE action = 'token.profile.changed' ORDER BY id");
    expect(audit.map((row) => [row.actor, row.data.from, row.data.to])).toContainEqual(['alice', 'okta', 'entra']);
  });
});
