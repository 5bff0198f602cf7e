// What third-party conformance suites (bench/conformance.ts, decision 043) found jml doing against
// RFC 7643/7644, each case named by the section it follows, over HTTP and the real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORE_USER, PATCH_OP, type ScimResource } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const CORE_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

interface Email {
  value: string;
  type?: string;
  primary?: boolean;
}
interface Member {
  value: string;
  display?: string;
  type?: string;
}
type User = ScimResource & { emails?: Email[] };
type Group = ScimResource & { members?: Member[] };
interface ErrorBody {
  status: string;
  scimType?: string;
  detail: string;
}

let jml: ScimApp;
let count = 0;

beforeAll(async () => {
  jml = await startScimApp();
});

afterAll(async () => {
  await jml.close();
});

async function createUser(attributes: Record<string, unknown> = {}): Promise<User> {
  count++;
  const created = await jml.scim.post<User>('/Users', { schemas: [CORE_USER], userName: `rfc-${count}@example.com`, ...attributes });
  expect(created.status).toBe(201);
  return created.body;
}

const primaries = (user: { emails?: Email[] }) => (user.emails ?? []).filter((email) => email.primary === true).map((email) => email.value);

async function emailColumn(id: string): Promise<string | null> {
  const [row] = await jml.database.query<{ email: string | null }>('SELECT email FROM identity WHERE id = $1::uuid', [id]);
  return row!.email;
}

describe('RFC 7643 §2.4: "primary" true appears at most once in a multi-valued attribute', () => {
  const twoPrimaries = [
    { value: 'work@example.com', type: 'work', primary: true },
    { value: 'home@example.com', type: 'home', primary: true },
  ];

  it('refuses a create or a replace naming two primaries with 400 invalidValue, and writes nothing', async () => {
    const created = await jml.scim.post<ErrorBody>('/Users', { schemas: [CORE_USER], userName: 'two-primaries@example.com', emails: twoPrimaries });
    expect(created.status).toBe(400);
    expect(created.body).toMatchObject({ status: '400', scimType: 'invalidValue' });
    expect(created.body.detail).toContain('emails');
    expect(await jml.database.query(`SELECT 1 FROM identity WHERE user_name = 'two-primaries@example.com'`)).toEqual([]);

    const user = await createUser({ emails: [twoPrimaries[0]] });
    const replaced = await jml.scim.put<ErrorBody>(`/Users/${user.id}`, { schemas: [CORE_USER], userName: user.userName, emails: twoPrimaries });
    expect(replaced.status).toBe(400);
    expect(replaced.body.scimType).toBe('invalidValue');
    const read = await jml.scim.get<User>(`/Users/${user.id}`);
    expect(read.body.meta.version).toBe(user.meta.version);
    expect(primaries(read.body)).toEqual(['work@example.com']);
  });

  it('RFC 7644 §3.5.2: a PATCH that adds a primary value unsets the one it replaces, and the email column follows', async () => {
    const user = await createUser({ emails: [{ value: 'first@example.com', type: 'work', primary: true }] });
    const patched = await jml.scim.patch<User>(`/Users/${user.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'emails', value: [{ value: 'second@example.com', type: 'home', primary: true }] }],
    });
    expect(patched.status).toBe(200);
    expect(primaries(patched.body)).toEqual(['second@example.com']);
    const read = await jml.scim.get<User>(`/Users/${user.id}`);
    expect(primaries(read.body)).toEqual(['second@example.com']);
    expect(read.body.emails).toContainEqual({ value: 'first@example.com', type: 'work', primary: false });
    expect(await emailColumn(user.id)).toBe('second@example.com');
  });

  it('refuses a PATCH whose own value names two primaries with 400 invalidValue', async () => {
    const user = await createUser({ emails: [{ value: 'only@example.com', type: 'work', primary: true }] });
    const patched = await jml.scim.patch<ErrorBody>(`/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'emails', value: twoPrimaries }] });
    expect(patched.status).toBe(400);
    expect(patched.body.scimType).toBe('invalidValue');
    expect(await emailColumn(user.id)).toBe('only@example.com');
  });
});

describe('RFC 7644 §3.5.2.1: an add of a value already there changes nothing', () => {
  it('keeps the version and meta.lastModified of a user created without `active`', async () => {
    const user = await createUser({ displayName: 'Existing Value' });
    const patched = await jml.scim.patch(`/Users/${user.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'add', path: 'displayName', value: 'Existing Value' }] });
    expect([200, 204]).toContain(patched.status);
    const read = await jml.scim.get<User>(`/Users/${user.id}`);
    expect(read.body.meta.lastModified).toBe(user.meta.lastModified);
    expect(read.body.meta.version).toBe(user.meta.version);
    const [audit] = await jml.database.query<{ action: string }>(
      `SELECT action FROM audit_event WHERE identity_id = $1::uuid ORDER BY seq DESC LIMIT 1`,
      [user.id],
    );
    expect(audit!.action).toBe('scim.user.unchanged');
  });
});

describe('RFC 7644 §3.4.2.5 and RFC 7643 §3: `schemas` is returned whatever `attributes` asks for', () => {
  it('keeps schemas on a single User and a single Group read with attributes', async () => {
    const user = await createUser();
    const read = await jml.scim.get(`/Users/${user.id}?attributes=userName`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ schemas: [CORE_USER], id: user.id, userName: user.userName });
    const group = await jml.scim.post('/Groups', { schemas: [CORE_GROUP], displayName: 'Projected' });
    const groupRead = await jml.scim.get(`/Groups/${group.body.id}?attributes=displayName`);
    expect(groupRead.body).toEqual({ schemas: [CORE_GROUP], id: group.body.id, displayName: 'Projected' });
  });

  it('keeps schemas on a write answered with attributes (RFC 7644 §3.9)', async () => {
    const created = await jml.scim.post(`/Users?attributes=userName`, { schemas: [CORE_USER], userName: 'projected-create@example.com' });
    expect(created.status).toBe(201);
    expect(created.body.schemas).toEqual([CORE_USER]);
  });
});

describe('Groups: members are users (RFC 7643 §4.2, advertised truthfully per RFC 7644 §4)', () => {
  it('advertises members of type User only in /Schemas', async () => {
    const schema = await jml.scim.get<{ attributes: { name: string; subAttributes?: { name: string; referenceTypes?: string[]; canonicalValues?: string[] }[] }[] }>(
      `/Schemas/${CORE_GROUP}`,
    );
    const members = schema.body.attributes.find((attribute) => attribute.name === 'members')!;
    expect(members.subAttributes!.find((sub) => sub.name === '$ref')!.referenceTypes).toEqual(['User']);
    expect(members.subAttributes!.find((sub) => sub.name === 'type')!.canonicalValues).toEqual(['User']);
  });

  it('refuses a group given as a member, in a POST and in a PATCH, with 400 invalidValue that says why', async () => {
    const inner = await jml.scim.post('/Groups', { schemas: [CORE_GROUP], displayName: 'Inner' });
    const outer = await jml.scim.post<ErrorBody>('/Groups', { schemas: [CORE_GROUP], displayName: 'Outer', members: [{ value: inner.body.id, type: 'Group' }] });
    expect(outer.status).toBe(400);
    expect(outer.body.scimType).toBe('invalidValue');
    expect(outer.body.detail).toContain(inner.body.id);
    expect(outer.body.detail).toContain('nested groups');
    const patched = await jml.scim.patch<ErrorBody>(`/Groups/${inner.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'members', value: [{ value: inner.body.id, type: 'group' }] }],
    });
    expect(patched.status).toBe(400);
    expect(patched.body.detail).toContain('nested groups');
  });
});

describe('RFC 7643 §2.4: a member\'s `display` is immutable, kept as the client sent it', () => {
  it('shows the display sent with a member, the user\'s name when none was sent, and keeps the first on a replace', async () => {
    const named = await createUser({ displayName: 'Ada Lovelace' });
    const plain = await createUser({ displayName: 'Bob Builder' });
    const created = await jml.scim.post<Group>('/Groups', {
      schemas: [CORE_GROUP],
      displayName: 'Displays',
      members: [{ value: named.id, display: 'ada (from the IdP)' }, { value: plain.id }],
    });
    expect(created.status).toBe(201);
    const shown = (group: Group) => Object.fromEntries((group.members ?? []).map((member) => [member.value, member.display]));
    expect(shown(created.body)).toEqual({ [named.id]: 'ada (from the IdP)', [plain.id]: 'Bob Builder' });

    const third = await createUser({ displayName: 'Carol' });
    const added = await jml.scim.patch<Group>(`/Groups/${created.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'members', value: [{ value: third.id, display: 'carol@idp' }] }],
    });
    expect(added.status).toBe(200);
    expect(shown(added.body)[third.id]).toBe('carol@idp');

    // SHALL NOT be updated: a replace naming another display for a member already there keeps the first.
    const replaced = await jml.scim.put<Group>(`/Groups/${created.body.id}`, {
      schemas: [CORE_GROUP],
      displayName: 'Displays',
      members: [{ value: named.id, display: 'renamed' }, { value: plain.id }, { value: third.id }],
    });
    expect(replaced.status).toBe(200);
    expect(shown(replaced.body)).toEqual({ [named.id]: 'ada (from the IdP)', [plain.id]: 'Bob Builder', [third.id]: 'carol@idp' });
  });
});

describe('RFC 7643 §2.5: a group whose members were all removed shows no `members`', () => {
  it('omits members after the last one is removed', async () => {
    const user = await createUser();
    const group = await jml.scim.post<Group>('/Groups', { schemas: [CORE_GROUP], displayName: 'Emptied', members: [{ value: user.id }] });
    const removed = await jml.scim.patch<Group>(`/Groups/${group.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'members' }] });
    expect(removed.status).toBe(200);
    expect(removed.body).not.toHaveProperty('members');
    expect((await jml.scim.get<Group>(`/Groups/${group.body.id}`)).body).not.toHaveProperty('members');
  });
});
