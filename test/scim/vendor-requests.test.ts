// Request bodies as the vendors document them (fixtures in test/scim/vendor-requests/, each with the
// addresses it was read from), replayed with a token of that vendor's profile, each accepted or
// refused as RFC 7643/7644 say, with the exact error type.
//
// OneLogin (vendor-requests/onelogin.json): its "SCIM Provisioner with SAML" connectors send the
// SCIM JSON Template an admin configures, with OneLogin's {$...} placeholders filled from the user
// and an empty string where the user has no value. Sources:
//   https://www.livingsecurity.com/migration/support/configuring-scim-for-onelogin
//   https://doc.keepnetlabs.com/next-generation-product/platform/company/company-settings/scim-settings/onelogin-scim-integration
//   https://scim.dev/guide/applications/onelogin
// JumpCloud and Google Workspace document no request bodies (docs/decisions/030-client-profiles.md).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { scimClient } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const onelogin = JSON.parse(readFileSync(new URL('./vendor-requests/onelogin.json', import.meta.url), 'utf8')) as {
  templates: Record<'v2Enterprise' | 'v2WithActive' | 'coreSchema1', Json>;
};

/** What OneLogin does with a template: every {$placeholder} becomes the user's value, or "" without one. */
function fill(template: Json, values: Record<string, string>): Json {
  if (typeof template === 'string') return template.replace(/\{\$([a-z_.]+)\}/g, (_whole, name: string) => values[name] ?? '');
  if (Array.isArray(template)) return template.map((entry) => fill(entry, values));
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, fill(value, values)]));
  return template;
}

let jml: ScimApp;
let client: ReturnType<typeof scimClient>;

beforeAll(async () => {
  jml = await startScimApp();
  client = await jml.clientFor('onelogin');
});

afterAll(async () => {
  await jml.close();
});

const eventKinds = async (id: string) =>
  (await jml.database.query<{ kind: string }>('SELECT kind FROM lifecycle_event WHERE identity_id = $1 ORDER BY created_at, id', [id])).map((row) => row.kind);

describe('OneLogin, its documented SCIM JSON templates', () => {
  it('creates a person from the SCIM v2 Enterprise template, blank parameters and all', async () => {
    const body = fill(onelogin.templates.v2Enterprise, {
      'parameters.scimusername': 'ana.ortiz@onelogin.example',
      'user.firstname': 'Ana',
      'user.lastname': 'Ortiz',
      'user.email': 'ana.ortiz@onelogin.example',
      'user.city': 'Lisbon',
      'user.country': 'PT',
      'parameters.department': 'Support',
    });
    const created = await client.post('/Users', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ userName: 'ana.ortiz@onelogin.example', active: true, name: { givenName: 'Ana', familyName: 'Ortiz' }, [ENTERPRISE]: { department: 'Support' } });
    expect(await eventKinds(created.body.id)).toEqual(['joiner']);
  });

  it('reads the template with "active": "{$user.active}", "id": null and meta; a later "false" is a leaver', async () => {
    const values = {
      'parameters.scimusername': 'li.wei@onelogin.example',
      'user.active': 'true',
      'user.email': 'li.wei@onelogin.example',
      'user.firstname': 'Li',
      'user.lastname': 'Wei',
      'user.display_name': 'Li Wei',
      'parameters.department': 'Sales',
    };
    const created = await client.post('/Users', fill(onelogin.templates.v2WithActive, values));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ active: true, [ENTERPRISE]: { department: 'Sales' } });
    const suspended = await client.put(`/Users/${created.body.id}`, fill(onelogin.templates.v2WithActive, { ...values, 'user.active': 'false' }));
    expect(suspended.status).toBe(200);
    expect(suspended.body.active).toBe(false);
    expect(await eventKinds(created.body.id)).toEqual(['joiner', 'leaver']);
  });

  // RFC 7643 §3: "schemas" must name the resource's core schema, here the 2.0 User URN; a body
  // naming only SCIM 1.1's does not conform to the request schema: RFC 7644 §3.12 invalidSyntax.
  // (OneLogin's SCIM 1.1 connector is for SCIM 1.1 servers; jml speaks 2.0.)
  it('refuses the SCIM 1.1 "Core Schema" template on SCIM 2.0 with 400 invalidSyntax and creates nobody', async () => {
    const body = fill(onelogin.templates.coreSchema1, { 'parameters.scimusername': 'old.core@onelogin.example', 'user.firstname': 'Old', 'user.lastname': 'Core' });
    const refused = await client.post<{ schemas: string[]; status: string; scimType?: string; detail: string }>('/Users', body);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ schemas: [ERROR], status: '400', scimType: 'invalidSyntax' });
    const found = await client.get<{ totalResults: number }>('/Users?filter=userName eq "old.core@onelogin.example"');
    expect(found.body.totalResults).toBe(0);
  });
});
