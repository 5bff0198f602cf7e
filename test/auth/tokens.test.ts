// Tokens: shown once, stored as a hash, several per client, revocable; creation and revocation
// audited with who did it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, createTokenVerifier, hashSecret, revokeToken } from '../../src/auth/tokens.js';
import type { Database } from '../../src/db/client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

/** The database, counting token lookups. */
function countingLookups() {
  let count = 0;
  const counting = {
    apiToken: {
      findUnique: (...args: Parameters<Database['apiToken']['findUnique']>) => {
        count++;
        return database.db.apiToken.findUnique(...args);
      },
      update: (...args: Parameters<Database['apiToken']['update']>) => database.db.apiToken.update(...args),
    },
  } as unknown as Database;
  return { counting, lookups: () => count };
}

describe('tokens', () => {
  it('stores only a hash, accepts several at once, refuses a revoked one, and audits both steps', async () => {
    const first = await createToken(database.db, { name: 'okta', kind: 'scim', actor: 'alice' });
    const second = await createToken(database.db, { name: 'okta', kind: 'scim', actor: 'alice' });
    const stored = await database.query<{ secret_hash: string }>('SELECT secret_hash FROM api_token ORDER BY created_at');
    expect(stored.map((row) => row.secret_hash)).toEqual([hashSecret(first.token), hashSecret(second.token)]);
    expect(JSON.stringify(stored)).not.toContain(first.token);

    const verify = createTokenVerifier({ db: database.db });
    expect(await verify(first.token)).toMatchObject({ name: 'okta', kind: 'scim' });
    expect(await verify(second.token)).toMatchObject({ name: 'okta' });
    expect((await verify(first.token))?.kind).toBe('scim');

    expect(await revokeToken(database.db, first.record.id, 'bob')).toBe(1);
    expect(await verify(first.token)).toBeNull();
    expect(await verify(second.token)).not.toBeNull();

    const audit = await database.query<{ actor: string; action: string; data: { tokenId: string } }>(`SELECT actor, action, data FROM audit_event ORDER BY id`);
    expect(audit.map(({ actor, action, data }) => [actor, action, data.tokenId])).toEqual([
      ['alice', 'token.created', first.record.id],
      ['alice', 'token.created', second.record.id],
      ['bob', 'token.revoked', first.record.id],
    ]);
    expect(JSON.stringify(audit)).not.toContain(first.token);
  });

  it('refuses a wrong token without a database round trip when its shape or an earlier lookup settles it', async () => {
    const { counting, lookups } = countingLookups();
    const verify = createTokenVerifier({ db: counting });
    const real = await createToken(database.db, { name: 'entra', kind: 'scim' });
    for (const garbage of ['not-a-token', 'x'.repeat(2000), 'jml_scim_short']) expect(await verify(garbage)).toBeNull();
    expect(lookups()).toBe(0);
    const unknown = `jml_scim_${'A'.repeat(43)}`;
    for (let attempt = 0; attempt < 100; attempt++) expect(await verify(unknown)).toBeNull();
    expect(lookups()).toBe(1);
    expect(await verify(real.token)).toMatchObject({ name: 'entra' });
    await revokeToken(database.db, real.record.id);
    expect(await verify(real.token)).toBeNull();
    expect(await verify(real.token)).toBeNull();
    expect(lookups()).toBe(3);
  });

  it('trusts a live token for trustForMs without a lookup, and refuses it once revoked and that has passed', async () => {
    let clock = 1_000_000;
    const { counting, lookups } = countingLookups();
    const verify = createTokenVerifier({ db: counting, trustForMs: 5000, now: () => clock });
    const real = await createToken(database.db, { name: 'okta-cached', kind: 'scim' });
    for (let request = 0; request < 50; request++) expect(await verify(real.token)).toMatchObject({ name: 'okta-cached' });
    expect(lookups()).toBe(1);
    await revokeToken(database.db, real.record.id);
    clock += 4_999;
    expect(await verify(real.token)).not.toBeNull();
    clock += 2;
    expect(await verify(real.token)).toBeNull();
    expect(lookups()).toBe(2);
  });
});
