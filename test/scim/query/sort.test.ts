// sortBy and sortOrder (RFC 7644 §3.4.2.3) against the real PostgreSQL, over users.json.
import { describe, expect, it } from 'vitest';
import { listIdentityIds } from '../../../src/scim/query/list.js';
import { ScimQueryError } from '../../../src/scim/query/query-error.js';
import { useSeededDatabase } from './seed.js';

const seeded = useSeededDatabase();

async function sorted(sortBy: string | undefined, sortOrder?: string, filter?: string): Promise<string[]> {
  const { ids: found } = await listIdentityIds(seeded.database.db, { sortBy, sortOrder, filter });
  return seeded.keysOf(found);
}

/** The rows that tie (here: have no value) come in id order, the tiebreaker. */
function byId(...keys: string[]): string[] {
  return [...keys].sort((a, b) => (seeded.ids[a]! < seeded.ids[b]! ? -1 : 1));
}

describe('sortToSql', () => {
  it('without sortBy, lists the oldest first', async () => {
    expect(await sorted(undefined)).toEqual(['bjensen', 'alice', 'carol', 'dave', 'frank']);
  });

  it('sorts case-insensitive attributes case-insensitively, ascending by default', async () => {
    // Code point order on raw values would put "BJensen" and "Dave" before "alice".
    expect(await sorted('userName')).toEqual(['alice', 'bjensen', 'carol', 'dave', 'frank']);
    expect(await sorted('UserName', 'DESCENDING')).toEqual(['frank', 'dave', 'carol', 'bjensen', 'alice']);
  });

  it('sorts case-exact attributes by code point, with no value last ascending and first descending', async () => {
    expect(await sorted('externalId', 'ascending')).toEqual(['bjensen', 'alice', 'carol', ...byId('dave', 'frank')]);
    expect(await sorted('externalId', 'descending')).toEqual([...byId('dave', 'frank'), 'carol', 'alice', 'bjensen']);
  });

  it('sorts a multi-valued attribute by its primary value, else its first', async () => {
    // carol's first email is zed@..., her primary c@work...; frank's first is aaron..., his primary frank.home@...
    expect(await sorted('emails')).toEqual(['alice', 'bjensen', 'carol', 'frank', 'dave']);
    expect(await sorted('emails.value', 'descending')).toEqual(['dave', 'frank', 'carol', 'bjensen', 'alice']);
    // alice's first phone is 555-0300, her primary 555-0050.
    expect(await sorted('phoneNumbers.value')).toEqual(['alice', 'bjensen', 'carol', ...byId('dave', 'frank')]);
  });

  it('sorts dates chronologically and extension attributes by their short or full name', async () => {
    expect(await sorted('meta.lastModified', 'descending')).toEqual(['frank', 'bjensen', 'dave', 'carol', 'alice']);
    // "Engineering" and "engineering" tie once case is folded.
    const department = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department';
    expect(await sorted(department, 'ascending', 'department pr')).toEqual([...byId('alice', 'carol'), 'bjensen']);
    expect(await sorted('costCenter', 'descending', 'costCenter pr')).toEqual(['bjensen', 'alice']);
  });

  it.each([
    ['favouriteColour', undefined, 'not a User attribute'],
    ['name', undefined, 'is complex'],
    ['addresses', undefined, 'has no single value'],
    ['userName eq "x"', undefined, 'not an attribute path'],
    ['userName', 'upwards', 'sortOrder must be'],
  ])('rejects sortBy %j sortOrder %j as invalidValue', async (sortBy, sortOrder, message) => {
    const error: unknown = await listIdentityIds(seeded.database.db, { sortBy, sortOrder }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ScimQueryError);
    expect(error).toMatchObject({ scimType: 'invalidValue', status: 400 });
    expect((error as Error).message).toContain(message);
  });
});
