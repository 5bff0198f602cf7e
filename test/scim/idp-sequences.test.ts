// The request sequences Okta and Microsoft Entra ID send, replayed against jml and the real
// PostgreSQL. Written from Okta's "SCIM 2.0" reference and Microsoft's "Develop a SCIM endpoint"
// tutorial: the bodies keep their shapes (Okta's path-less PATCH and full PUTs, Entra's
// capitalised ops, string booleans and URN-qualified keys).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORE_USER, PATCH_OP, type ScimResource } from '../support/scim-client.js';
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
  const userName = 'test.user@okta.local';
  let id: string;

  it('passes the connection test: a lookup of a user that does not exist is an empty list', async () => {
    const response = await jml.scim.get<ListBody>('/Users?filter=userName eq "00b0a8b6-okta-connection-test"&startIndex=1&count=1');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ schemas: [LIST], totalResults: 0, Resources: [] });
  });

  it('looks the user up before creating them, then creates them (and never stores the password)', async () => {
    const lookup = await jml.scim.get<ListBody>(`/Users?filter=userName%20eq%20%22${encodeURIComponent(userName)}%22&startIndex=1&count=100`);
    expect(lookup.body.totalResults).toBe(0);
    const created = await jml.scim.post('/Users', {
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
    const again = await jml.scim.get<ListBody>(`/Users?filter=userName eq "${userName}"&startIndex=1&count=100`);
    expect(again.body.Resources.map((user) => user.id)).toEqual([id]);
  });

  it('updates the profile with a full PUT: a new department and title make a mover', async () => {
    const current = await jml.scim.get(`/Users/${id}`);
    const { meta: _meta, ...body } = current.body;
    const replaced = await jml.scim.put(`/Users/${id}`, {
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
    const response = await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { password: 'newP@ssw0rd' } }] });
    expect([200, 204]).toContain(response.status);
    const [row] = await jml.database.query<{ resource: Record<string, unknown> }>('SELECT resource FROM identity WHERE id = $1', [id]);
    expect(JSON.stringify(row!.resource)).not.toContain('newP@ssw0rd');
    expect((await eventsOf(id)).length).toBe(2);
  });

  it('pushes a group and changes its membership: each member added or removed is a mover', async () => {
    const group = await jml.scim.post('/Groups', { schemas: [GROUP], displayName: 'Test SCIMv2', members: [] });
    expect(group.status).toBe(201);
    const groupId = group.body.id;
    const added = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'members', value: [{ value: id, display: userName }] }] });
    expect(added.status).toBe(200);
    expect(added.body.members).toEqual([expect.objectContaining({ value: id, display: 'Test User' })]);
    const renamed = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { id: groupId, displayName: 'Test SCIMv2 renamed' } }] });
    expect(renamed.body.displayName).toBe('Test SCIMv2 renamed');
    const removed = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${id}"]` }] });
    expect([200, 204]).toContain(removed.status);
    expect((await jml.scim.get(`/Groups/${groupId}`)).body.members ?? []).toEqual([]);
    const movers = (await eventsOf(id)).filter((event) => event.kind === 'mover').slice(-2);
    expect(movers.map((event) => event.changes)).toEqual([
      { groups: { from: [], to: [groupId] } },
      { groups: { from: [groupId], to: [] } },
    ]);
    expect((await jml.scim.delete(`/Groups/${groupId}`)).status).toBe(204);
    expect((await jml.scim.get(`/Groups/${groupId}`)).status).toBe(404);
  });

  it('deactivates with {"op":"replace","value":{"active":false}}: a leaver', async () => {
    const response = await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(response.status).toBe(200);
    expect(response.body.active).toBe(false);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver']);
  });

  it('reactivates with {"op":"replace","value":{"active":true}}: a rehire', async () => {
    const response = await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(response.body.active).toBe(true);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver', 'rehire']);
  });
});

describe('Microsoft Entra ID', () => {
  const userName = 'Test_User_dfeef4c5-5681-4387-b016-bdf221e82081';
  let id: string;
  let managerId: string;

  it('answers the lookup of a missing user with zero results', async () => {
    const response = await jml.scim.get<ListBody>('/Users?filter=userName eq "non-existent user"');
    expect(response.status).toBe(200);
    expect(response.body.totalResults).toBe(0);
  });

  it('creates a user with the enterprise extension', async () => {
    const manager = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'Test_Manager_1', active: true });
    managerId = manager.body.id;
    const created = await jml.scim.post('/Users', {
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
    const found = await jml.scim.get<ListBody>(`/Users?filter=userName eq "${userName}"`);
    expect(found.body.Resources[0]).toMatchObject({ id, [ENTERPRISE]: { employeeNumber: '1001', department: 'Research' } });
    const byExternalId = await jml.scim.get<ListBody>('/Users?filter=externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"');
    expect(byExternalId.body.Resources.map((user) => user.id)).toEqual([id]);
  });

  it('updates multi-valued and single-valued attributes with capitalised ops', async () => {
    const response = await jml.scim.patch(`/Users/${id}`, {
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
    const moved = await jml.scim.patch(`/Users/${id}`, {
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
    const group = await jml.scim.post('/Groups', {
      schemas: [GROUP], externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159', displayName: 'Entra Group', meta: { resourceType: 'Group' },
    });
    expect(group.status).toBe(201);
    const groupId = group.body.id;
    const found = await jml.scim.get<ListBody>('/Groups?excludedAttributes=members&filter=displayName eq "Entra Group"');
    expect(found.body.Resources.map((resource) => resource.id)).toEqual([groupId]);
    expect(found.body.Resources[0]).not.toHaveProperty('members');
    const add = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Add', path: 'members', value: [{ $ref: null, value: id }] }] });
    expect([200, 204]).toContain(add.status);
    const rename = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'displayName', value: 'Entra Group 2' }] });
    expect([200, 204]).toContain(rename.status);
    const remove = await jml.scim.patch(`/Groups/${groupId}`, { schemas: [PATCH_OP], Operations: [{ op: 'Remove', path: 'members', value: [{ $ref: null, value: id }] }] });
    expect([200, 204]).toContain(remove.status);
    const after = await jml.scim.get(`/Groups/${groupId}`);
    expect(after.body).toMatchObject({ displayName: 'Entra Group 2' });
    expect(after.body.members ?? []).toEqual([]);
    const movers = (await eventsOf(id)).filter((event) => event.kind === 'mover').slice(-2);
    expect(movers.map((event) => event.changes)).toEqual([{ groups: { from: [], to: [groupId] } }, { groups: { from: [groupId], to: [] } }]);
    expect((await jml.scim.delete(`/Groups/${groupId}`)).status).toBe(204);
  });

  it('disables with {"op":"Replace","path":"active","value":"False"}: a leaver, visible in a filtered GET', async () => {
    const response = await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] });
    expect(response.status).toBe(200);
    const found = await jml.scim.get<ListBody>(`/Users?filter=userName eq "${userName}"`);
    expect(found.body.Resources[0]!.active).toBe(false);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver']);
  });

  it('enables again with "True", then deletes: rehire, then leaver', async () => {
    await jml.scim.patch(`/Users/${id}`, { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] });
    expect((await jml.scim.delete(`/Users/${id}`)).status).toBe(204);
    expect((await jml.scim.get(`/Users/${id}`)).status).toBe(404);
    expect((await eventsOf(id)).map((event) => event.kind)).toEqual(['joiner', 'mover', 'mover', 'mover', 'leaver', 'rehire', 'leaver']);
  });
});
