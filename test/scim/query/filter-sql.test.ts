// Filters run as SQL against the real PostgreSQL, over the identities in users.json (erin is
// deleted and must never match). Each expectation names the users a client would get back.
import { describe, expect, it } from 'vitest';
import { USER_ATTRIBUTES } from '../../../src/scim/query/attributes.js';
import { parseFilter } from '../../../src/scim/query/filter-parser.js';
import { escapeLike, filterToSql } from '../../../src/scim/query/filter-sql.js';
import { listIdentityIds } from '../../../src/scim/query/list.js';
import { ScimQueryError } from '../../../src/scim/query/query-error.js';
import { useSeededDatabase } from './seed.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const seeded = useSeededDatabase();

/** The keys (from users.json) of the users the filter selects, sorted. */
async function matching(filter: string): Promise<string[]> {
  const { ids: found, totalResults } = await listIdentityIds(seeded.database.db, { filter });
  expect(totalResults).toBe(found.length);
  return seeded.keysOf(found).sort();
}

async function rejection(filter: string): Promise<ScimQueryError> {
  const error: unknown = await listIdentityIds(seeded.database.db, { filter }).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ScimQueryError)) throw new Error(`"${filter}" was not rejected with a ScimQueryError: ${String(error)}`);
  expect(error).toMatchObject({ name: 'ScimQueryError', scimType: 'invalidFilter', status: 400 });
  return error;
}

describe('attribute operators (RFC 7644 §3.4.2.2, Table 3)', () => {
  it('eq and ne', async () => {
    expect(await matching('userName eq "alice"')).toEqual(['alice']);
    // An absent title is not equal to "Engineer" either.
    expect(await matching('title ne "Engineer"')).toEqual(['bjensen', 'carol', 'dave', 'frank']);
  });

  it('co, sw and ew', async () => {
    expect(await matching('displayName co "lid"')).toEqual(['alice']);
    expect(await matching('userName sw "b"')).toEqual(['bjensen']);
    expect(await matching('name.givenName ew "OL"')).toEqual(['carol']);
  });

  it('gt, ge, lt and le compare strings in code point order, case folded', async () => {
    expect(await matching('userName gt "carol"')).toEqual(['carol', 'dave', 'frank']);
    expect(await matching('userName ge "dave"')).toEqual(['dave', 'frank']);
    expect(await matching('userName lt "BJENSEN"')).toEqual(['alice']);
    expect(await matching('userName le "BJENSEN"')).toEqual(['alice', 'bjensen']);
  });

  it('pr: a non-empty value, for columns, jsonb values and complex attributes', async () => {
    expect(await matching('title pr')).toEqual(['alice', 'bjensen', 'frank']);
    // dave's nickName is "": present in the document, but empty is no value.
    expect(await matching('nickName pr')).toEqual(['bjensen']);
    expect(await matching('name pr')).toEqual(['alice', 'bjensen', 'carol']);
    expect(await matching('emails pr')).toEqual(['alice', 'bjensen', 'carol', 'frank']);
  });

  it('eq null asks for an absent value, ne null for a present one', async () => {
    expect(await matching('externalId eq null')).toEqual(['dave', 'frank']);
    expect(await matching('externalId ne null')).toEqual(['alice', 'bjensen', 'carol']);
  });

  it('matches nothing when nothing matches', async () => {
    expect(await matching('userName eq "nobody"')).toEqual([]);
  });
});

describe('case sensitivity follows caseExact (RFC 7643 §2.2)', () => {
  it('folds case for userName and emails', async () => {
    expect(await matching('userName eq "bjensen"')).toEqual(['bjensen']);
    expect(await matching('USERNAME Eq "BJENSEN"')).toEqual(['bjensen']);
    expect(await matching('emails.value eq "alice@example.com"')).toEqual(['alice']);
    expect(await matching('emails co "EXAMPLE.COM"')).toEqual(['alice', 'bjensen', 'carol', 'frank']);
  });

  it('is exact for externalId and id', async () => {
    expect(await matching('externalId eq "ext-bjensen"')).toEqual([]);
    expect(await matching('externalId eq "EXT-bjensen"')).toEqual(['bjensen']);
    expect(await matching('externalId sw "ext-"')).toEqual(['alice', 'carol']);
    expect(await matching(`id eq "${seeded.ids.alice}"`)).toEqual(['alice']);
    expect(await matching(`id eq "${seeded.ids.alice!.toUpperCase()}"`)).toEqual([]);
    expect(await matching(`id ne "${seeded.ids.alice}"`)).toEqual(['bjensen', 'carol', 'dave', 'frank']);
    expect(await matching(`id sw "${seeded.ids.carol!.slice(0, 13)}"`)).toEqual(['carol']);
    expect(await matching('id eq "not-a-uuid"')).toEqual([]);
  });

  it('is exact for meta.resourceType', async () => {
    expect(await matching('meta.resourceType eq "User"')).toEqual(['alice', 'bjensen', 'carol', 'dave', 'frank']);
    expect(await matching('meta.resourceType eq "user"')).toEqual([]);
  });
});

describe('logical operators and grouping', () => {
  it('and, or, and their precedence', async () => {
    expect(await matching('title eq "Engineer" and active eq true')).toEqual(['alice']);
    expect(await matching('userName eq "alice" or userName eq "dave"')).toEqual(['alice', 'dave']);
    // and binds tighter: the second branch matches no one, so only carol remains.
    expect(await matching('userName eq "carol_100%" or userName eq "alice" and title eq "Nobody"')).toEqual(['carol']);
    expect(await matching('(userName eq "carol_100%" or userName eq "alice") and title eq "Engineer"')).toEqual(['alice']);
  });

  it('not negates a whole group, absent values included', async () => {
    expect(await matching('not (userName eq "alice" or userName eq "bjensen")')).toEqual(['carol', 'dave', 'frank']);
    expect(await matching('not (title eq "Engineer" and active eq true)')).toEqual(['bjensen', 'carol', 'dave', 'frank']);
    expect(await matching('not (title pr)')).toEqual(['carol', 'dave']);
    expect(await matching('not userName sw "a"')).toEqual(['bjensen', 'carol', 'dave', 'frank']);
  });

  it('nests groups inside groups', async () => {
    expect(await matching('active eq true and (emails co "example.org" or not (title pr))')).toEqual(['dave']);
    expect(await matching('userName sw "c" and (emails co "example.org" or not (title pr))')).toEqual(['carol']);
    expect(await matching('(userName eq "alice" or (userName eq "frank" and not (emails co "nowhere")))')).toEqual(['alice', 'frank']);
  });
});

describe('multi-valued attributes and value paths', () => {
  it('match when any value matches', async () => {
    expect(await matching('emails co "jensen.org"')).toEqual(['bjensen']);
    expect(await matching('emails.type eq "home"')).toEqual(['bjensen', 'carol', 'frank']);
    expect(await matching('phoneNumbers.value eq "555-0300"')).toEqual(['alice']);
    expect(await matching('addresses.locality eq "hollywood"')).toEqual(['bjensen']);
  });

  it('require one value to satisfy the whole bracketed filter', async () => {
    expect(await matching('emails[type eq "work" and value ew "@example.com"]')).toEqual(['alice', 'bjensen', 'frank']);
    // Without brackets each comparison may be met by a different value.
    expect(await matching('emails[type eq "work" and value ew ".org"]')).toEqual([]);
    expect(await matching('emails.type eq "work" and emails.value ew ".org"')).toEqual(['bjensen', 'carol']);
    expect(await matching('emails[type eq "home" and primary eq true]')).toEqual(['frank']);
    expect(await matching('emails[not (type eq "work")]')).toEqual(['bjensen', 'carol', 'frank']);
    expect(await matching('emails[type eq "work"].value sw "aaron"')).toEqual(['frank']);
  });

  it('reads schemas as a multi-valued attribute', async () => {
    expect(await matching(`schemas eq "${ENTERPRISE}"`)).toEqual(['alice', 'bjensen', 'carol']);
  });
});

describe('the enterprise extension (RFC 7643 §4.3)', () => {
  it('answers to the URN-qualified and the short name alike', async () => {
    expect(await matching(`${ENTERPRISE}:department eq "engineering"`)).toEqual(['alice', 'carol']);
    expect(await matching('department eq "ENGINEERING"')).toEqual(['alice', 'carol']);
    expect(await matching(`${ENTERPRISE}:employeeNumber eq "701984"`)).toEqual(['bjensen']);
    expect(await matching('costCenter sw "41"')).toEqual(['bjensen']);
  });

  it('finds the manager by value (the manager_id column) and by its document fields', async () => {
    expect(await matching(`${ENTERPRISE}:manager.value eq "mgr-2"`)).toEqual(['alice']);
    expect(await matching('manager.displayName co "smith"')).toEqual(['bjensen']);
    expect(await matching('manager pr')).toEqual(['alice', 'bjensen']);
    expect(await matching(`${ENTERPRISE}:manager[value eq "MGR-1"]`)).toEqual(['bjensen']);
  });
});

describe('booleans and dates', () => {
  it('compares booleans, also when Entra sends them as strings', async () => {
    expect(await matching('active eq false')).toEqual(['carol']);
    expect(await matching('active ne true')).toEqual(['carol']);
    expect(await matching('active eq True')).toEqual(['alice', 'bjensen', 'dave', 'frank']);
    expect(await matching('active eq "False"')).toEqual(['carol']);
  });

  it('compares meta dates chronologically', async () => {
    expect(await matching('meta.lastModified gt "2024-01-04T09:00:00Z"')).toEqual(['bjensen', 'frank']);
    expect(await matching('meta.lastModified ge "2024-01-04T09:00:00Z"')).toEqual(['bjensen', 'dave', 'frank']);
    expect(await matching('meta.created lt "2024-01-02T10:00:01+01:00"')).toEqual(['alice', 'bjensen']);
    expect(await matching('meta.created le "2024-01-01T09:00:00.000Z"')).toEqual(['bjensen']);
    expect(await matching('meta.created eq "2024-01-03T09:00:00Z"')).toEqual(['carol']);
  });
});

describe('values are data, never SQL', () => {
  it('matches injection-shaped values literally', async () => {
    expect(await matching(`userName eq "alice' OR '1'='1"`)).toEqual([]);
    expect(await matching(String.raw`userName eq "x\"; DROP TABLE identity; --"`)).toEqual([]);
    expect(await matching(`displayName eq "Dave O'Hara \\\\ (sales)"`)).toEqual(['dave']);
    expect(await seeded.database.query('SELECT count(*)::int AS n FROM identity')).toEqual([{ n: 6 }]);
  });

  it('escapes LIKE wildcards and backslashes in co, sw and ew', async () => {
    expect(await matching('userName co "_"')).toEqual(['carol']);
    expect(await matching('userName ew "%"')).toEqual(['carol']);
    expect(await matching('userName sw "%"')).toEqual([]);
    expect(await matching('displayName co "\\\\ ("')).toEqual(['dave']);
    expect(escapeLike(String.raw`50%_\x`)).toBe(String.raw`50\%\_\\x`);
  });

  it('binds every value as a parameter', () => {
    const sql = filterToSql(parseFilter(`userName eq "evil' --" or emails[value co "x%y"]`), USER_ATTRIBUTES);
    expect(sql.sql).not.toContain('evil');
    expect(sql.values).toEqual(["evil' --", '%x\\%y%']);
  });
});

describe('filters that cannot be evaluated are invalidFilter (RFC 7644 §3.12)', () => {
  it.each([
    ['active gt true', 'boolean can only be compared with eq or ne'],
    ['active eq "yes"', 'is a boolean'],
    ['meta.created gt 5', 'is a dateTime'],
    ['meta.lastModified gt "yesterday"', 'is a dateTime'],
    ['meta.created co "2024"', 'applies to strings'],
    ['title gt null', 'null can only be compared'],
    ['favouriteColour eq "blue"', "'favouriteColour' is not a User attribute"],
    ['password eq "secret"', "'password' is not a User attribute"],
    ['name eq "Alice"', 'is complex'],
    ['addresses eq "x"', 'name a sub-attribute'],
    ['emails[colour eq "red"]', "no sub-attribute 'colour'"],
    ['userName[value eq "x"]', 'has no sub-attributes'],
    ['urn:example:custom:User:userName eq "x"', 'is not a schema of User'],
  ])('%s', async (filter, message) => {
    expect((await rejection(filter)).message).toContain(message);
  });

  it('turns syntax errors into invalidFilter too', async () => {
    expect((await rejection('userName eq')).message).toContain('ends early');
    expect((await rejection('userName eq "a" and (title pr')).message).toContain('expected ")"');
  });
});
