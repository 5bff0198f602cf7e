// The request sequences identity providers send, replayed against jml and the real PostgreSQL,
// each with a token of that provider's client profile. Written from Okta's "SCIM 2.0" reference,
// Microsoft's "Develop a SCIM endpoint" tutorial, OneLogin's SCIM JSON templates ("SCIM
// Provisioner with SAML (SCIM v2 Enterprise)"), JumpCloud's "Custom SCIM Identity Management"
// article and Google Workspace's auto-provisioning set-up: the bodies keep their shapes (Okta's
// path-less PATCH and full PUTs, Entra's capitalised ops, string booleans and URN-qualified keys,
// OneLogin's templated strings, JumpCloud's test user and group).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORE_USER, PATCH_OP, type ScimResource, type scimClient } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

interface ListBody {
  totalResults: number;
  Resources: ScimResource[];
  startIndex: number;
  itemsPerPage: number;
}

let jml: ScimApp;
/** The client of the provider whose sequence runs: each describe gets a token of its profile. */
let client: ReturnType<typeof scimClient>;

beforeAll(async () => {
  jml = await startScimApp();
});

afterAll(async () => {
  await jml.close();
});

async function eventsOf(id: string) {
  const rows = await jml.database.query<{ kind: string; changes: Record<string, unknown> }>(
    'SELECT kind, changes FROM lifecycle_event WHERE identity_id = $1 ORDER BY created_at, id', [id]);
  return rows;
}

describe('Okta', () => {
  beforeAll(async () => {
    client = await jml.clientFor('okta');
  });
  const userName = 'test.user@okta.local';
  let id: string;

  it('passes the connection test: a lookup of a user that does not exist is an empty list', async () => {
    const response = await client.get<ListBody>('/Users?filter=userName eq "00b0a8b6-okta-connection-test"&startIndex=1&count=1');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ schemas: [LIST], totalResults: 0, Resources: [] });
  });

  it('looks the user up before creating them, then creates them (and never stores the password)', async () => {
    const lookup = await client.get<ListBody>(`/Users?filter=userName%20eq%20%22${encodeURIComponent(userName)}%22&startIndex=1&count=100`);
    expect(lookup.body.totalResults).toBe(0);
    const created = await client.post('/Users', {
      schemas: [CORE_USER],
      userName,
      name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: userName, type: 'work' }],
      displayName: 'Test User',
      locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7',
      groups: [],
      password: '1mz050nq',
      active: true,
    });
    expect(created.status).toBe(201);
    expect(created.body).not.toHaveProperty('password');
    id = created.body.id;
    const [row] = await jml.database.query<{ resource: Record<string, unknown> }>('SELECT resource FROM identity WHERE id = $1', [id]);
    expect(JSON.stringify(row!.resource)).not.toContain('1mz050nq');
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner']);
    const again = await client.get<ListBody>(`/Users?filter=userName eq "${userName}"&startIndex=1&count=100`);
    expect(again.body.Resources.map((user) => user.id)).toEqual([id]);
  });

  it('updates the profile with a full PUT: a new department and title make a mover', async () => {
    const current = await client.get(`/Users/${id}`);
    const { meta: _meta, ...body } = current.body;
    const replaced = await client.put(`/Users/${id}`, {
      ...body,
      schemas: [CORE_USER, ENTERPRISE],
      title: 'Senior Engineer',
      [ENTERPRISE]: { department: 'Platform' },
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ title: 'Senior Engineer', [ENTERPRISE]: { department: 'Platform' } });
    const events = await eventsOf(id);
    expect(events.map((event) => event.kind)).toEqual(['joiner', 'mover']);
    expect(events[1]!.changes).toEqual({ title: { from: null, to: 'Senior Engineer' }, department: { from: null, to: 'Platform' } });
  });

  it('syncs a password with a path-less replace without storing it or making an event', async () => {
    const response = await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { password: 'newP@ssw0rd' } }] });
    expect([200, 204]).toContain(response.status);
    const [row] = await jml.database.query<{ resource: Record<string, unknown> }>('SELECT resource FROM identity WHERE id = $1', [id]);
    expect(JSON.stringify(row!.resource)).not.toContain('newP@ssw0rd');
    expect((await eventsOf(id)).length).toBe(2);
  });

  it('pushes a group and changes its membership: each member added or removed is a mover', async () => {
    const group = await client.post('/Groups', { schemas: [GROUP], displayName: 'Test SCIMv2', members: [] });
    expect(group.status).toBe(201);
    const groupId = group.body.id;
    const added = await client.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: id, display: userName }] }] });
    expect(added.status).toBe(200);
    // RFC 7643 §2.4: a member's display is immutable, so Okta's (the userName) is kept as sent.
    expect(added.body.members).toEqual([expect.objectContaining({ value: id, display: userName })]);
    const renamed = await client.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { id: groupId, displayName: 'Test SCIMv2 renamed' } }] });
    expect(renamed.body.displayName).toBe('Test SCIMv2 renamed');
    const removed = await client.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] });
    expect([200, 204]).toContain(removed.status);
    expect((await client.get(`/Groups/${groupId}`)).body.members ?? []).toEqual([]);
    const movers = (await eventsOf(id)).filter((event) => event.kind === 'mover').slice(-2);
    expect(movers.map((event) => event.changes)).toEqual([
      { groups: { from: [], to: [groupId] } },
      { groups: { from: [groupId], to: [] } },
    ]);
    expect((await client.delete(`/Groups/${groupId}`)).status).toBe(204);
    expect((await client.get(`/Groups/${groupId}`)).status).toBe(404);
  });

  it('deactivates with {"op":"replace","value":{"active":false}}: a leaver', async () => {
    const response = await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(response.status).toBe(200);
    expect(response.body.active).toBe(false);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver']);
  });

  it('reactivates with {"op":"replace","value":{"active":true}}: a rehire', async () => {
    const response = await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(response.body.active).toBe(true);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver', 'rehire']);
  });
});

describe('Microsoft Entra ID', () => {
  beforeAll(async () => {
    client = await jml.clientFor('entra');
  });
  const userName = 'Test_User_dfeef4c5-5681-4387-b016-bdf221e82081';
  let id: string;
  let managerId: string;

  it('answers the lookup of a missing user with zero results', async () => {
    const response = await client.get<ListBody>('/Users?filter=userName eq "non-existent user"');
    expect(response.status).toBe(200);
    expect(response.body.totalResults).toBe(0);
  });

  it('creates a user with the enterprise extension', async () => {
    const manager = await client.post('/Users', { schemas: [CORE_USER], userName: 'Test_Manager_1', active: true });
    managerId = manager.body.id;
    const created = await client.post('/Users', {
      schemas: [CORE_USER, ENTERPRISE],
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      userName,
      active: true,
      addresses: [{ primary: true, type: 'work', streetAddress: '1 Microsoft Way', locality: 'Redmond', postalCode: '98052', country: 'US' }],
      displayName: 'Test User',
      emails: [{ primary: true, type: 'work', value: 'Test_User_11bb6f8f@testuser.com' }],
      meta: { resourceType: 'User' },
      name: { formatted: 'Test User', familyName: 'User', givenName: 'Test' },
      phoneNumbers: [{ primary: true, type: 'work', value: '+1 425 555 0100' }],
      title: 'Engineer',
      [ENTERPRISE]: { employeeNumber: '1001', department: 'Research', costCenter: 'CC-9' },
    });
    expect(created.status).toBe(201);
    id = created.body.id;
    const found = await client.get<ListBody>(`/Users?filter=userName eq "${userName}"`);
    expect(found.body.Resources[0]).toMatchObject({ id, [ENTERPRISE]: { employeeNumber: '1001', department: 'Research' } });
    const byExternalId = await client.get<ListBody>('/Users?filter=externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"');
    expect(byExternalId.body.Resources.map((user) => user.id)).toEqual([id]);
  });

  it('updates multi-valued and single-valued attributes with capitalised ops', async () => {
    const response = await client.patch(`/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
      ],
    });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ name: { familyName: 'updatedFamilyName' }, emails: [expect.objectContaining({ value: 'updatedEmail@microsoft.com' })] });
    const [row] = await jml.database.query<{ email: string; family_name: string }>('SELECT email, family_name FROM identity WHERE id = $1', [id]);
    expect(row).toEqual({ email: 'updatedEmail@microsoft.com', family_name: 'updatedFamilyName' });
  });

  it('moves a person with URN-qualified and dotted keys in a path-less value, and a bare manager id', async () => {
    const moved = await client.patch(`/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [
        { op: 'Replace', value: { 'name.givenName': 'Updated', [`${ENTERPRISE}:department`]: 'Marketing' } },
        { op: 'Add', path: `${ENTERPRISE}:manager`, value: managerId },
      ],
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ name: { givenName: 'Updated' }, [ENTERPRISE]: { department: 'Marketing', manager: { value: managerId } } });
    const events = await eventsOf(id);
    expect(events.map((event) => event.kind)).toEqual(['joiner', 'mover']);
    expect(events[1]!.changes).toEqual({ department: { from: 'Research', to: 'Marketing' }, managerId: { from: null, to: managerId } });
  });

  it('creates a group, finds it by displayName without members, and adds and removes members as Entra does', async () => {
    const group = await client.post('/Groups', {
      schemas: [GROUP], externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'Entra Group', meta: { resourceType: 'Group' },
    });
    expect(group.status).toBe(201);
    const groupId = group.body.id;
    const found = await client.get<ListBody>('/Groups?excludedAttributes=members&filter=displayName eq "Entra Group"');
    expect(found.body.Resources.map((resource) => resource.id)).toEqual([groupId]);
    expect(found.body.Resources[0]).not.toHaveProperty('members');
    const add = await client.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'members', value: [{ $ref: null, value: id }] }] });
    expect([200, 204]).toContain(add.status);
    const rename = await client.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'displayName', value: 'Entra Group 2' }] });
    expect([200, 204]).toContain(rename.status);
    const remove = await client.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: id }] }] });
    expect([200, 204]).toContain(remove.status);
    const after = await client.get(`/Groups/${groupId}`);
    expect(after.body).toMatchObject({ displayName: 'Entra Group 2' });
    expect(after.body.members ?? []).toEqual([]);
    const movers = (await eventsOf(id)).filter((event) => event.kind === 'mover').slice(-2);
    expect(movers.map((event) => event.changes)).toEqual([{ groups: { from: [], to: [groupId] } }, { groups: { from: [groupId], to: [] } }]);
    expect((await client.delete(`/Groups/${groupId}`)).status).toBe(204);
  });

  it('disables with {"op":"Replace","path":"active","value":"False"}: a leaver, visible in a filtered GET', async () => {
    const response = await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(response.status).toBe(200);
    const found = await client.get<ListBody>(`/Users?filter=userName eq "${userName}"`);
    expect(found.body.Resources[0]!.active).toBe(false);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver']);
  });

  it('enables again with "True", then deletes: rehire, then leaver', async () => {
    await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect((await client.delete(`/Users/${id}`)).status).toBe(204);
    expect((await client.get(`/Users/${id}`)).status).toBe(404);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver', 'rehire', 'leaver']);
  });
});

describe('OneLogin', () => {
  const userName = 'jane.doe@onelogin.example';
  let id: string;
  beforeAll(async () => {
    client = await jml.clientFor('onelogin');
  });

  // OneLogin fills its SCIM JSON template: every value is a string ("{$user.active}" is "true"),
  // a parameter without a value is "", and the template carries "id": null and meta.
  const template = (overrides: Record<string, unknown> = {}) => ({
    schemas: [CORE_USER, ENTERPRISE],
    id: null,
    meta: { resourceType: 'User' },
    userName,
    active: 'true',
    name: { familyName: 'Doe', givenName: 'Jane', formatted: 'Jane Doe' },
    title: '',
    userType: '',
    timezone: '',
    emails: [{ value: userName, type: 'work', primary: true }],
    addresses: [{ locality: 'Berlin', region: '', country: 'DE' }],
    [ENTERPRISE]: { organization: '', division: '', department: 'Sales', manager: { value: '', displayName: ' ' } },
    ...overrides,
  });

  it('looks the user up by userName, then creates them from the template', async () => {
    const lookup = await client.get<ListBody>(`/Users?filter=userName eq "${userName}"`);
    expect(lookup.body.totalResults).toBe(0);
    const created = await client.post('/Users', template());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ userName, active: true, [ENTERPRISE]: { department: 'Sales' } });
    id = created.body.id;
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner']);
  });

  it('updates with the whole template again (PUT): a new department makes a mover', async () => {
    const replaced = await client.put(`/Users/${id}`, template({ [ENTERPRISE]: { organization: '', division: '', department: 'Finance', manager: { value: '', displayName: ' ' } } }));
    expect(replaced.status).toBe(200);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover']);
  });

  it('provisions a role as a group with members, then removes the member', async () => {
    const group = await client.post('/Groups', { schemas: [GROUP], displayName: 'OneLogin Role', members: [{ value: id, display: userName }] });
    expect(group.status).toBe(201);
    const removed = await client.patch(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] });
    expect(removed.status).toBe(200);
    expect(removed.body.members ?? []).toEqual([]);
  });

  it('suspends the user with the template\'s "active": "false": a leaver', async () => {
    const replaced = await client.put(`/Users/${id}`, template({ active: 'false', [ENTERPRISE]: { department: 'Finance' } }));
    expect(replaced.status).toBe(200);
    expect(replaced.body.active).toBe(false);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver']);
  });
});

describe('JumpCloud', () => {
  beforeAll(async () => {
    client = await jml.clientFor('jumpcloud');
  });

  it('passes "Test Connection": creates a test user and a test group, then deletes both', async () => {
    const user = await client.post('/Users', { schemas: [CORE_USER], userName: 'jctest@jumpcloud.example', name: { givenName: 'JumpCloud', familyName: 'Test' }, emails: [{ value: 'jctest@jumpcloud.example', type: 'work', primary: true }], active: true });
    expect(user.status).toBe(201);
    const group = await client.post('/Groups', { schemas: [GROUP], displayName: 'JumpCloud Test Group', members: [{ value: user.body.id }] });
    expect(group.status).toBe(201);
    expect((await client.delete(`/Groups/${group.body.id}`)).status).toBe(204);
    expect((await client.delete(`/Users/${user.body.id}`)).status).toBe(204);
    expect((await client.get<ListBody>('/Users?filter=userName eq "jctest@jumpcloud.example"')).body.totalResults).toBe(0);
  });

  it('looks a user up before deciding to create, takes over a group of the same name, syncs membership, renames, deactivates', async () => {
    const userName = 'sam@jumpcloud.example';
    expect((await client.get<ListBody>(`/Users?filter=userName eq "${userName}"`)).body.totalResults).toBe(0);
    const created = await client.post('/Users', { schemas: [CORE_USER], userName, name: { givenName: 'Sam', familyName: 'Jones' }, displayName: 'Sam Jones', active: true });
    const id = created.body.id;
    const existing = await client.post('/Groups', { schemas: [GROUP], displayName: 'Engineering' });
    // JumpCloud takes over an existing group whose name matches the user group's.
    const found = await client.get<ListBody>('/Groups?filter=displayName eq "Engineering"');
    expect(found.body.Resources.map((group) => group.id)).toEqual([existing.body.id]);
    const added = await client.patch(`/Groups/${existing.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }] });
    expect(added.status).toBe(200);
    expect(added.body.members).toEqual([expect.objectContaining({ value: id, display: 'Sam Jones' })]);
    const renamed = await client.patch(`/Groups/${existing.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'displayName', value: 'Engineering EU' }] });
    expect(renamed.body.displayName).toBe('Engineering EU');
    const removed = await client.patch(`/Groups/${existing.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members', value: [{ value: id }] }] });
    expect(removed.body.members ?? []).toEqual([]);
    // user_deprovision: "change an existing user to inactive".
    const deactivated = await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(deactivated.status).toBe(200);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'leaver']);
  });
});

describe('Google Workspace', () => {
  beforeAll(async () => {
    client = await jml.clientFor('google');
  });

  it('probes the endpoint with GET /Users?count=1 when the connection is saved', async () => {
    const probe = await client.get<ListBody>('/Users?count=1');
    expect(probe.status).toBe(200);
    expect(probe.body).toMatchObject({ schemas: [LIST], startIndex: 1 });
    expect(probe.body.Resources.length).toBeLessThanOrEqual(1);
  });

  it('provisions a person in scope, suspends them (a leaver) and deletes them when they leave the company', async () => {
    const userName = 'kim@workspace.example';
    expect((await client.get<ListBody>(`/Users?filter=userName eq "${userName}"`)).body.totalResults).toBe(0);
    const created = await client.post('/Users', { schemas: [CORE_USER], userName, name: { givenName: 'Kim', familyName: 'Lee' }, emails: [{ value: userName, primary: true }], active: true });
    expect(created.status).toBe(201);
    const id = created.body.id;
    const suspended = await client.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(suspended.status).toBe(200);
    expect((await client.delete(`/Users/${id}`)).status).toBe(204);
    // Deleting an already inactive person changes nothing downstream: one leaver, not two.
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'leaver']);
  });
});
