// Seeds the identities in users.json the way the SCIM write path stores them: the representation
// in `resource` (no id, no meta) and the searchable columns copied from it.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll } from 'vitest';
import type { Database, Prisma } from '../../../src/db/client.js';
import { columnsFromScim, type ScimUser } from '../../../src/scim/user-mapping.js';
import { createTestDatabase, type TestDatabase } from '../../support/database.js';

export interface SeedUser {
  key: string;
  deleted?: boolean;
  createdAt: string;
  updatedAt: string;
  resource: ScimUser;
}

export const SEED_USERS = JSON.parse(readFileSync(new URL('./users.json', import.meta.url), 'utf8')) as SeedUser[];

export type SeededIds = Record<string, string>;

export async function seedUsers(db: Database, users: SeedUser[] = SEED_USERS): Promise<SeededIds> {
  const ids: SeededIds = {};
  for (const user of users) {
    const created = await db.identity.create({
      data: {
        ...columnsFromScim(user.resource),
        resource: user.resource as Prisma.InputJsonValue,
        createdAt: new Date(user.createdAt),
        updatedAt: new Date(user.updatedAt),
        deletedAt: user.deleted ? new Date(user.updatedAt) : null,
      },
    });
    ids[user.key] = created.id;
  }
  return ids;
}

export interface SeededDatabase {
  database: TestDatabase;
  ids: SeededIds;
  /** The users.json keys of the given identity ids, in the same order. */
  keysOf(found: string[]): string[];
}

/** A database of the test file's own, seeded with users.json before its tests and dropped after. */
export function useSeededDatabase(): SeededDatabase {
  const seeded = {
    keysOf(found: string[]) {
      const keys = new Map(Object.entries(seeded.ids).map(([key, id]) => [id, key]));
      return found.map((id) => keys.get(id) ?? id);
    },
  } as SeededDatabase;
  beforeAll(async () => {
    seeded.database = await createTestDatabase();
    seeded.ids = await seedUsers(seeded.database.db);
  });
  afterAll(async () => {
    await seeded.database.drop();
  });
  return seeded;
}
