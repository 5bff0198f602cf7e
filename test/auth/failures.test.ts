// Failed authentication costs no database work per request: a budget per client address, and
// one audit row per window and source with the count.
import type { Request } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthFailureGuard, clientSource } from '../../src/auth/failures.js';
import { authenticate } from '../../src/auth/http.js';
import type { Principal } from '../../src/auth/tokens.js';
import { createDatabase } from '../../src/db/client.js';
import { logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

const request = (ip: string, path = '/Users'): Request => ({ ip, method: 'GET', baseUrl: '/scim/v2', path }) as Request;

interface FailedRow {
  data: { realm: string; ip: string; count: number; throttled: number; reasons: Record<string, number>; paths: Record<string, number> };
}
const rows = () => database.query<FailedRow>(`SELECT data FROM audit_event WHERE action = 'auth.failed' ORDER BY id`);

describe('AuthFailureGuard', () => {
  it('refuses an address that spent its budget, and no other, until it refills', async () => {
    let now = 0;
    const guard = new AuthFailureGuard({ db: database.db, logger, burst: 3, perSecond: 0.5, now: () => now });
    for (let attempt = 0; attempt < 3; attempt++) {
      const admission = guard.admit(request('203.0.113.7'), 'wrong');
      expect(admission.allowed).toBe(true);
      guard.failed(request('203.0.113.7'), 'scim', 'unknown or revoked token', { admission });
    }
    expect(guard.admit(request('203.0.113.7'), 'wrong')).toEqual({ allowed: false, retryAfterSeconds: 2 });
    expect(guard.admit(request('203.0.113.8'), 'wrong').allowed).toBe(true);
    now += 2_000;
    expect(guard.admit(request('203.0.113.7'), 'wrong').allowed).toBe(true);
    await guard.close();
  });

  it('lets a token that verified through a spent budget (a client behind the attacker’s NAT)', async () => {
    const guard = new AuthFailureGuard({ db: database.db, logger, burst: 1, perSecond: 0.001 });
    guard.failed(request('198.51.100.1'), 'scim', 'unknown or revoked token');
    expect(guard.admit(request('198.51.100.1'), 'good-token').allowed).toBe(false);
    guard.succeeded('good-token');
    expect(guard.admit(request('198.51.100.1'), 'good-token').allowed).toBe(true);
    expect(guard.admit(request('198.51.100.1'), 'another').allowed).toBe(false);
    await guard.close();
  });

  it('checks no more tokens than the budget holds, however many arrive before the first is answered', async () => {
    let now = 0;
    const guard = new AuthFailureGuard({ db: database.db, logger, burst: 3, perSecond: 0.2, now: () => now });
    // A token check that answers only when told to: every attempt below is in flight at once.
    const waiting: ((principal: Principal | null) => void)[] = [];
    const verify = (_token: string) => new Promise<Principal | null>((resolve) => waiting.push(resolve));
    const attempt = (token: string) => authenticate(request('203.0.113.20'), { realm: 'scim', token, guard, verify, refusedReason: 'unknown or revoked token' });
    const answerAll = (principal: Principal | null) => {
      for (const answer of waiting.splice(0)) answer(principal);
    };

    const flood = Array.from({ length: 16 }, () => attempt('wrong'));
    expect(waiting).toHaveLength(3);
    answerAll(null);
    const outcomes = (await Promise.all(flood)).map((outcome) => outcome.outcome);
    expect(outcomes.filter((outcome) => outcome === 'refused')).toHaveLength(3);
    expect(outcomes.filter((outcome) => outcome === 'throttled')).toHaveLength(13);

    // One failure regained (5 s at 0.2/s): one more check, not one per attempt waiting for it.
    now += 5_000;
    const refill = Array.from({ length: 16 }, () => attempt('wrong'));
    expect(waiting).toHaveLength(1);
    answerAll(null);
    expect((await Promise.all(refill)).filter((outcome) => outcome.outcome === 'refused')).toHaveLength(1);
    await guard.close();
  });

  it('gives the charge back to a token that verifies, and when the check itself fails', async () => {
    const guard = new AuthFailureGuard({ db: database.db, logger, burst: 2, perSecond: 0.001 });
    const principal: Principal = { tokenId: 't1', name: 'idp', kind: 'scim', profile: 'generic' };
    const from = request('203.0.113.21');
    for (let attempt = 0; attempt < 10; attempt++) {
      const outcome = await authenticate(from, { realm: 'scim', token: `good-${attempt}`, guard, verify: () => Promise.resolve(principal), refusedReason: 'unknown' });
      expect(outcome.outcome).toBe('authenticated');
    }
    const down = () => authenticate(from, { realm: 'scim', token: 'any', guard, verify: () => Promise.reject(new Error('database down')), refusedReason: 'unknown' });
    for (let attempt = 0; attempt < 5; attempt++) await expect(down()).rejects.toThrow('database down');
    // Still the whole budget: two wrong tokens are checked and refused, the third is throttled.
    const wrong = () => authenticate(from, { realm: 'scim', token: 'wrong', guard, verify: () => Promise.resolve(null), refusedReason: 'unknown' });
    expect([(await wrong()).outcome, (await wrong()).outcome, (await wrong()).outcome]).toEqual(['refused', 'refused', 'throttled']);
    await guard.close();
  });

  it('keeps one budget per IPv6 /64 and per IPv4 address, mapped or not', () => {
    expect(clientSource('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientSource('2001:0db8:0001:0002:ffff:1:2:3')).toBe('2001:db8:1:2::/64');
    expect(clientSource('::1')).toBe('0:0:0:0::/64');
    expect(clientSource('::ffff:192.0.2.9')).toBe('192.0.2.9');
    expect(clientSource('192.0.2.9')).toBe('192.0.2.9');
    expect(clientSource(undefined)).toBe('unknown');
  });

  it('writes 10,000 failures from one address as one row with the count, paths without queries', async () => {
    const before = (await rows()).length;
    const guard = new AuthFailureGuard({ db: database.db, logger, burst: 5 });
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const req = request('192.0.2.50', attempt % 2 ? '/Users' : '/Groups');
      const admission = guard.admit(req, 'wrong');
      guard.failed(req, 'scim', admission.allowed ? 'unknown or revoked token' : 'too many failures from this address', { throttled: !admission.allowed, admission });
    }
    await guard.close();
    const written = (await rows()).slice(before);
    expect(written.map((row) => row.data)).toEqual([
      expect.objectContaining({
        realm: 'scim',
        ip: '192.0.2.50',
        count: 10_000,
        throttled: 9_995,
        reasons: { 'unknown or revoked token': 5, 'too many failures from this address': 9_995 },
        paths: { 'GET /scim/v2/Groups': 5_000, 'GET /scim/v2/Users': 5_000 },
      }),
    ]);
  });

  it('bounds the rows of one window however many addresses and paths an attacker uses', async () => {
    const before = (await rows()).length;
    const guard = new AuthFailureGuard({ db: database.db, logger, maxSources: 10 });
    for (let host = 0; host < 500; host++) guard.failed(request(`10.0.${host >> 8}.${host & 255}`, `/Users/${host}`), 'scim', 'no bearer token');
    await guard.close();
    const written = (await rows()).slice(before);
    expect(written).toHaveLength(11);
    expect(written.at(-1)?.data).toMatchObject({ ip: 'other', count: 490 });
    expect(Object.keys(written.at(-1)?.data.paths ?? {})).toHaveLength(11);
    expect(written.reduce((sum, row) => sum + row.data.count, 0)).toBe(500);
  });

  it('writes nothing for a quiet window, and survives a database that is down', async () => {
    const before = (await rows()).length;
    const quiet = new AuthFailureGuard({ db: database.db, logger });
    await quiet.close();
    expect(await rows()).toHaveLength(before);
    const down = new AuthFailureGuard({ db: createDatabase('postgresql://nobody@127.0.0.1:1/none', { poolSize: 1 }), logger });
    down.failed(request('192.0.2.1'), 'scim', 'no bearer token');
    await expect(down.close()).resolves.toBeUndefined();
  });
});
