// Decision 060 over HTTP: a canonical create and a leaver's or re-activation's PATCH are written
// without scimmy's User constructions and answer exactly what scimmy's own GET of the same version
// answers; anything not canonical still goes through scimmy, and errors stay RFC 7644 §3.12 bodies.
import SCIMMY from 'scimmy';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CORE_USER, PATCH_OP, type ScimResource, type scimClient } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

let jml: ScimApp;
let okta: ReturnType<typeof scimClient>;
let entra: ReturnType<typeof scimClient>;

beforeAll(async () => {
  jml = await startScimApp();
  okta = await jml.clientFor('okta');
  entra = await jml.clientFor('entra');
});

afterAll(async () => {
  await jml.close();
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** What an Okta create carries: core User and the enterprise extension, keys in Okta's order. */
function oktaUser(name: string) {
  return {
    schemas: [CORE_USER, ENTERPRISE],
    userName: `${name}@example.com`,
    externalId: `ext-${name}`,
    name: { givenName: 'Given', familyName: 'Family Ünal' },
    displayName: 'Given Family Ünal',
    emails: [{ value: `${name}@example.com`, type: 'work', primary: true }],
    active: true,
    title: 'Analyst',
    [ENTERPRISE]: { employeeNumber: '100001', department: 'Finance' },
  };
}

const scimmyWrites = () => vi.spyOn(SCIMMY.Resources.User.prototype, 'write');
const scimmyPatches = () => vi.spyOn(SCIMMY.Messages.PatchOp.prototype, 'apply');

/** The same version read through scimmy (GET builds its outbound User). */
async function scimmyShows(id: string) {
  const read = await okta.get(`/Users/${id}`);
  expect(read.status).toBe(200);
  return JSON.stringify(read.body);
}

describe('SCIM writes without coercion (decision 060)', () => {
  it('creates a canonical user without scimmy and answers what scimmy shows', async () => {
    const writes = scimmyWrites();
    const created = await okta.post('/Users', oktaUser('canon-create'));
    expect(created.status).toBe(201);
    expect(writes).not.toHaveBeenCalled();
    expect(created.headers.get('location')).toBe(created.body.meta.location);
    expect(created.headers.get('etag')).toBe('W/"1"');
    expect(JSON.stringify(created.body)).toBe(await scimmyShows(created.body.id));
  });

  it('makes a leaver from each dialect without PatchOp, answering what scimmy shows; an unchanged PATCH is 204', async () => {
    const spellings: [ReturnType<typeof scimClient>, unknown[]][] = [
      [okta, [{ op: 'replace', value: { active: false } }]],
      [entra, [{ op: 'Replace', path: 'active', value: 'False' }]],
    ];
    for (const [index, [client, operations]] of spellings.entries()) {
      const created = await client.post('/Users', oktaUser(`canon-leaver-${index}`));
      const patches = scimmyPatches();
      const left = await client.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: operations });
      expect(left.status).toBe(200);
      expect(left.body.active).toBe(false);
      expect(left.headers.get('etag')).toBe('W/"2"');
      expect(JSON.stringify(left.body)).toBe(await scimmyShows(created.body.id));
      const again = await client.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: operations });
      expect(again.status).toBe(204);
      expect(patches).not.toHaveBeenCalled();
      const events = await jml.database.query<{ kind: string }>('SELECT kind FROM lifecycle_event WHERE identity_id = $1 ORDER BY created_at', [created.body.id]);
      expect(events.map(({ kind }) => kind)).toEqual(['joiner', 'leaver']);
    }
  });

  it('re-activates without PatchOp', async () => {
    const created = await okta.post('/Users', { ...oktaUser('canon-rehire'), active: false });
    const patches = scimmyPatches();
    const back = await okta.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: true }] });
    expect(back.status).toBe(200);
    expect(back.body.active).toBe(true);
    expect(patches).not.toHaveBeenCalled();
    expect(JSON.stringify(back.body)).toBe(await scimmyShows(created.body.id));
  });

  it('leaves a representation that is not canonical to scimmy, with the same answers', async () => {
    const writes = scimmyWrites();
    // A mis-cased attribute name: scimmy's coercion respells it, so scimmy writes it.
    const { displayName, ...user } = oktaUser('not-canonical');
    const created = await okta.post('/Users', { ...user, DisplayName: displayName });
    expect(created.status).toBe(201);
    expect(created.body.displayName).toBe(displayName);
    expect(writes).toHaveBeenCalledTimes(1);
    // Stored as scimmy spelled it, the identity is canonical now: the leaver takes the fast path.
    const patches = scimmyPatches();
    const left = await okta.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(left.status).toBe(200);
    expect(patches).not.toHaveBeenCalled();
    // A PATCH of anything else is scimmy's.
    const renamed = await okta.patch(`/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Lead' }] });
    expect(renamed.status).toBe(200);
    expect(patches).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(renamed.body)).toBe(await scimmyShows(created.body.id));
  });

  it('answers errors as RFC 7644 §3.12 bodies on the fast path', async () => {
    const created = await okta.post('/Users', oktaUser('canon-errors'));
    const stale = await okta.call<Record<string, unknown>>('PATCH', `/Users/${created.body.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] }, { 'if-match': 'W/"7"' });
    expect(stale.status).toBe(412);
    expect(stale.body.schemas).toEqual([ERROR]);
    expect(stale.body.status).toBe('412');
    const missing = await okta.call<Record<string, unknown>>('PATCH', '/Users/00000000-0000-4000-8000-000000000000', { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
    expect(missing.status).toBe(404);
    expect(missing.body.schemas).toEqual([ERROR]);
    const taken = await okta.post<Record<string, unknown>>('/Users', oktaUser('canon-errors'));
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ schemas: [ERROR], status: '409', scimType: 'uniqueness' });
    const read = await okta.get<ScimResource>(`/Users/${created.body.id}`);
    expect(read.body.active).toBe(true);
  });
});
