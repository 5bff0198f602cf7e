// Paging (RFC 7644 §3.4.2.4), deleted identities and the error contract of listIdentityIds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toScimError } from '../../../src/scim/errors.js';
import { listIdentityIds, MAX_PAGE_SIZE, pageWindow } from '../../../src/scim/query/list.js';
import { parseFilter } from '../../../src/scim/query/filter-parser.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';
import { SEED_USERS, seedUsers, type SeededIds } from './seed.js';

let database: TestDatabase;
let ids: SeededIds;
const EXTRA = MAX_PAGE_SIZE + 5;

beforeAll(async () => {
  database = await createTestDatabase();
  ids = await seedUsers(database.db);
  // Many identities with the same creation time: only the id tiebreaker orders them.
  const createdAt = new Date('2024-02-01T00:00:00Z');
  await database.db.identity.createMany({
    data: Array.from({ length: EXTRA }, (_, index) => ({
      userName: `bulk${index}@example.com`,
      title: 'Bulk',
      resource: { userName: `bulk${index}@example.com`, title: 'Bulk' },
      createdAt,
    })),
  });
});

afterAll(async () => {
  await database.drop();
});

const live = SEED_USERS.filter((user) => !user.deleted).length;

describe('pageWindow', () => {
  it('reads startIndex below 1 as 1 and count below 0 as 0, and caps count', () => {
    expect(pageWindow(undefined, undefined)).toEqual({ offset: 0, limit: MAX_PAGE_SIZE });
    expect(pageWindow(0, 10)).toEqual({ offset: 0, limit: 10 });
    expect(pageWindow(-4, -1)).toEqual({ offset: 0, limit: 0 });
    expect(pageWindow(3, 5000)).toEqual({ offset: 2, limit: MAX_PAGE_SIZE });
    expect(pageWindow(Number.NaN, 2.9)).toEqual({ offset: 0, limit: 2 });
  });
});

describe('listIdentityIds', () => {
  it('never lists a deleted identity, whatever the filter', async () => {
    const all = await listIdentityIds(database.db, { count: MAX_PAGE_SIZE });
    expect(all.totalResults).toBe(live + EXTRA);
    expect(all.ids).not.toContain(ids.erin);
    expect(await listIdentityIds(database.db, { filter: 'userName eq "erin"' })).toEqual({ ids: [], totalResults: 0 });
    expect(await listIdentityIds(database.db, { filter: `id eq "${ids.erin}"` })).toEqual({ ids: [], totalResults: 0 });
  });

  it('treats startIndex 0 like 1', async () => {
    const fromZero = await listIdentityIds(database.db, { startIndex: 0, count: 3 });
    const fromOne = await listIdentityIds(database.db, { startIndex: 1, count: 3 });
    expect(fromZero).toEqual(fromOne);
    expect(fromOne.ids).toEqual([ids.bjensen, ids.alice, ids.carol]);
  });

  it('pages through every match exactly once, in a stable order', async () => {
    const seen: string[] = [];
    for (let startIndex = 1; startIndex <= EXTRA; startIndex += 50) {
      const page = await listIdentityIds(database.db, { filter: 'title eq "Bulk"', sortBy: 'title', startIndex, count: 50 });
      expect(page.totalResults).toBe(EXTRA);
      seen.push(...page.ids);
    }
    expect(seen).toHaveLength(EXTRA);
    expect(new Set(seen).size).toBe(EXTRA);
  });

  it('returns the last partial page, and an empty page with the total past the end', async () => {
    const last = await listIdentityIds(database.db, { filter: 'title ne "Bulk"', startIndex: live, count: 10 });
    expect(last).toEqual({ ids: [ids.frank], totalResults: live });
    const past = await listIdentityIds(database.db, { filter: 'title ne "Bulk"', startIndex: live + 1, count: 10 });
    expect(past).toEqual({ ids: [], totalResults: live });
  });

  it('answers count 0 (and a negative count) with the total only', async () => {
    expect(await listIdentityIds(database.db, { filter: 'title eq "Bulk"', count: 0 })).toEqual({ ids: [], totalResults: EXTRA });
    expect(await listIdentityIds(database.db, { filter: 'active eq false', count: -5 })).toEqual({ ids: [], totalResults: 1 });
  });

  it('gives at most MAX_PAGE_SIZE resources however many are asked for', async () => {
    const page = await listIdentityIds(database.db, { count: 10_000 });
    expect(page.ids).toHaveLength(MAX_PAGE_SIZE);
    expect(page.totalResults).toBe(live + EXTRA);
  });

  it('reports a filter matching nothing as an empty list', async () => {
    expect(await listIdentityIds(database.db, { filter: 'userName eq "nobody@example.com"' })).toEqual({ ids: [], totalResults: 0 });
  });

  it('takes a filter already parsed', async () => {
    expect(await listIdentityIds(database.db, { filter: parseFilter('userName eq "ALICE"') })).toEqual({ ids: [ids.alice], totalResults: 1 });
  });

  it('fails with an error the SCIM layer answers as 400 invalidFilter', async () => {
    const error = await listIdentityIds(database.db, { filter: 'userName eq' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'ScimQueryError', scimType: 'invalidFilter', status: 400 });
    expect(toScimError(error)).toMatchObject({ status: 400, scimType: 'invalidFilter' });
  });
});
