// Thousands of malformed, oversized, wrongly typed and injection-shaped SCIM requests: none may
// get a 5xx or crash the server, and every refusal must be an RFC 7644 §3.12 error body. The
// generator is seeded, so a failure is reproducible.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../bench/support/stats.js';
import { createToken } from '../../src/auth/tokens.js';
import { CORE_USER, PATCH_OP } from '../support/scim-client.js';
import { startScimApp, type ScimApp } from '../support/scim-app.js';

const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const REQUESTS = 3000;

let jml: ScimApp;
let token: string;
let userId: string;

const nasty = [
  "' OR 1=1 --", '"); DROP TABLE identity; --', '") or ("1"="1', '\u0000', '%00', '../../etc/passwd', '${7*7}', '{{7*7}}',
  '<script>alert(1)</script>', '\\', '"', "'", '\u202e', '😀'.repeat(50), 'a'.repeat(5000), '__proto__', 'constructor', 'NaN', '-1e309',
];

function generator(seed: number) {
  const next = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const junkValue = (depth = 0): unknown => {
    switch (Math.floor(next() * (depth > 3 ? 5 : 8))) {
      case 0: return pick(nasty);
      case 1: return Math.floor(next() * 1e6) - 5e5;
      case 2: return next() < 0.5;
      case 3: return null;
      case 4: return next() * 1e300;
      case 5: return Array.from({ length: Math.floor(next() * 4) }, () => junkValue(depth + 1));
      case 6: return Object.fromEntries(Array.from({ length: Math.floor(next() * 4) }, () => [pick([...nasty, 'userName', 'active', 'emails', 'schemas', 'Operations', 'op', 'path', 'value']), junkValue(depth + 1)]));
      default: return { __proto__: { polluted: true }, constructor: { prototype: { polluted: true } } };
    }
  };
  const filters = [
    () => pick(nasty),
    () => `userName eq ${pick(nasty)}`,
    () => `userName eq "${pick(nasty)}"`,
    () => `${pick(nasty)} eq "x"`,
    () => `userName ${pick(['zz', 'eq', 'co', 'gt', 'pr', ''])} ${JSON.stringify(junkValue())}`,
    () => '('.repeat(Math.floor(next() * 100)) + 'userName pr' + ')'.repeat(Math.floor(next() * 100)),
    () => 'not ('.repeat(40) + 'active eq true' + ')'.repeat(40),
    () => `emails[${pick(nasty)}].value eq "x"`,
    () => `meta.lastModified gt "${pick(nasty)}"`,
    () => 'userName eq "x" and '.repeat(300) + 'active eq true',
  ];
  const patchOps = () =>
    Array.from({ length: 1 + Math.floor(next() * 3) }, () => ({
      op: pick(['add', 'replace', 'remove', 'Add', 'explode', '', junkValue()]),
      ...(next() < 0.7 ? { path: pick([...nasty, 'emails[type eq "work"].value', 'members[value eq "x"]', 'name.givenName', 'urn:x:y', `${'a.'.repeat(100)}b`, junkValue()]) } : {}),
      ...(next() < 0.8 ? { value: junkValue() } : {}),
    }));

  return (): { method: string; path: string; body?: string; headers: Record<string, string> } => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    const json = (value: unknown) => {
      headers['content-type'] = pick(['application/scim+json', 'application/json', 'text/plain', 'application/x-www-form-urlencoded']);
      const text = JSON.stringify(value) ?? 'null';
      return next() < 0.1 ? text.slice(0, Math.floor(next() * text.length)) : text;
    };
    switch (Math.floor(next() * 9)) {
      case 0:
        return { method: 'POST', path: '/Users', body: json({ schemas: next() < 0.5 ? [CORE_USER] : junkValue(), userName: junkValue(), active: junkValue(), emails: junkValue(), name: junkValue(), [pick(nasty)]: junkValue() }), headers };
      case 1:
        return { method: 'GET', path: `/Users?filter=${encodeURIComponent(pick(filters)())}&startIndex=${encodeURIComponent(String(junkValue()))}&count=${encodeURIComponent(String(junkValue()))}`, headers };
      case 2:
        return { method: 'GET', path: `/Users?sortBy=${encodeURIComponent(pick(nasty))}&sortOrder=${encodeURIComponent(pick(nasty))}&attributes=${encodeURIComponent(pick(nasty))}`, headers };
      case 3:
        return { method: 'PATCH', path: `/Users/${userId}`, body: json(next() < 0.8 ? { schemas: [PATCH_OP], Operations: patchOps() } : junkValue()), headers };
      case 4:
        return { method: pick(['GET', 'PUT', 'PATCH', 'DELETE']), path: `/Users/${encodeURIComponent(pick(nasty))}`, body: json({ schemas: [CORE_USER], userName: 'x' }), headers };
      case 5:
        return { method: 'PUT', path: `/Users/${userId}`, body: json({ schemas: [CORE_USER], userName: junkValue(), active: junkValue(), [pick(nasty)]: junkValue() }), headers: { ...headers, 'if-match': String(junkValue()).replace(/[^\x20-\x7e]/g, '') } };
      case 6:
        return { method: 'POST', path: '/Users/.search', body: json({ schemas: junkValue(), filter: pick(filters)(), startIndex: junkValue(), count: junkValue(), attributes: junkValue() }), headers };
      case 7:
        return { method: 'POST', path: '/Groups', body: json({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: junkValue(), members: junkValue() }), headers };
      default:
        return { method: pick(['GET', 'POST']), path: pick(['/Users', '/Groups', '/Schemas/x', '/ResourceTypes/x', '/Bulk', '/Me', '/.search']), body: json(junkValue()), headers: next() < 0.2 ? { ...headers, authorization: String(pick(nasty)).replace(/[^\x20-\x7e]/g, '') } : headers };
    }
  };
}

beforeAll(async () => {
  jml = await startScimApp({ rateLimit: { perSecond: 0, burst: 1 } });
  const created = await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'target', emails: [{ value: 't@example.com', type: 'work' }] });
  userId = created.body.id;
  token = (await createToken(jml.database.db, { name: 'fuzzer', kind: 'scim' })).token;
});

afterAll(async () => {
  await jml.close();
});

describe('bad input', () => {
  it('refuses the NUL character anywhere in a body or a filter with 400 invalidValue', async () => {
    for (const response of [
      await jml.scim.post('/Users', { schemas: [CORE_USER], userName: 'nul\u0000byte' }),
      await jml.scim.post('/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: '\u0000' }),
      await jml.scim.get(`/Users?filter=${encodeURIComponent('userName eq "\u0000"')}`),
      await jml.scim.patch(`/Users/${userId}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'a\u0000b' }] }),
    ]) {
      expect(response.status).toBe(400);
      expect(response.body).toMatchObject({ schemas: [ERROR], scimType: 'invalidValue' });
    }
  });

  it(`answers ${REQUESTS} malformed requests without a 5xx, each refusal an RFC 7644 error body`, async () => {
    const nextRequest = generator(20261124);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let index = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (index < REQUESTS) {
          index++;
          const request = nextRequest();
          const response = await fetch(`${jml.baseUrl}/scim/v2${request.path}`, {
            method: request.method,
            headers: request.headers,
            body: request.method === 'GET' || request.method === 'DELETE' ? undefined : request.body,
          });
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const text = await response.text();
          const describe = () => `${request.method} ${request.path.slice(0, 120)} -> ${response.status} ${text.slice(0, 200)}`;
          if (response.status >= 500 && response.status !== 501) failures.push(describe());
          else if (response.status >= 400) {
            let body: { schemas?: unknown; status?: unknown } | undefined;
            try {
              body = JSON.parse(text) as typeof body;
            } catch {
              failures.push(`not JSON: ${describe()}`);
              continue;
            }
            if (!Array.isArray(body?.schemas) || !body.schemas.includes(ERROR) || body.status !== String(response.status)) failures.push(`not an RFC 7644 error: ${describe()}`);
          }
        }
      }),
    );
    expect(failures.slice(0, 10)).toEqual([]);
    // The storm reached the interesting paths: plenty of 400s, and some requests succeeded.
    expect(statuses.get(400) ?? 0).toBeGreaterThan(REQUESTS / 4);
    expect([...statuses.keys()].some((status) => status < 300)).toBe(true);
    expect((await fetch(`${jml.baseUrl}/health`)).status).toBe(200);
    // A fixed amount of work, not a speed claim: a loaded 2-core machine needs more than the
    // default minute for 3000 requests.
  }, 240_000);
});
