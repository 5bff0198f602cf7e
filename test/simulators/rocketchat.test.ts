import { describe, expect, test } from 'vitest';
import { SIMULATOR_CREDENTIALS, type SimulatorServerOptions } from '../../src/simulators/index.js';
import { postJson, simulatorServers } from './harness.js';

const auth = { 'X-User-Id': SIMULATOR_CREDENTIALS.rocketchat.userId, 'X-Auth-Token': SIMULATOR_CREDENTIALS.rocketchat.authToken };
const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}) {
  const { clock, server } = await startServer(options);
  const base = server.urls.rocketchat;
  return {
    clock,
    simulator: server.simulators.rocketchat,
    info: (query: string, headers: Record<string, string> = auth) => fetch(`${base}/api/v1/users.info?${query}`, { headers }),
    post: (endpoint: string, body: unknown) => postJson(`${base}/api/v1/${endpoint}`, body, auth),
    base,
  };
}

describe('Rocket.Chat simulator', () => {
  test('refuses calls without valid X-User-Id / X-Auth-Token with the documented 401 body', async () => {
    const { simulator, info } = await setUp();
    simulator.seedUser({ username: 'ada' });

    const attempts: Record<string, string>[] = [{}, { ...auth, 'X-Auth-Token': 'wrong' }, { 'X-Auth-Token': auth['X-Auth-Token'] }];
    for (const headers of attempts) {
      const response = await info('username=ada', headers);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ status: 'error', message: 'You must be logged in to do this.' });
    }
  });

  test('users.info finds by userId, username or email, and answers an unknown user with 400', async () => {
    const { simulator, info } = await setUp();
    const ada = simulator.seedUser({ username: 'ada', email: 'ada@example.com', roles: ['user', 'admin'] });

    for (const query of [`userId=${ada._id}`, 'username=ada', 'email=ADA@example.com']) {
      const response = await info(query);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ success: true, user: { _id: ada._id, username: 'ada', active: true, roles: ['user', 'admin'] } });
    }
    const unknown = await info('username=nobody');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ success: false, error: 'User not found.' });
    expect((await info('')).status).toBe(400);
    expect((await info('username=ada&email=ada@example.com')).status).toBe(400);
  });

  test('the rate limiter allows 10 calls per endpoint per minute, then 429 with the documented body and no Retry-After', async () => {
    const { clock, simulator, info, post } = await setUp();
    simulator.seedUser({ username: 'ada' });
    const reset = String(clock.now() + 60_000);

    for (let call = 1; call <= 10; call += 1) {
      const response = await info('username=ada');
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-limit')).toBe('10');
      expect(response.headers.get('x-ratelimit-remaining')).toBe(String(10 - call));
      expect(response.headers.get('x-ratelimit-reset')).toBe(reset);
    }
    clock.advance(20_000);
    const limited = await info('username=ada');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(limited.headers.get('x-ratelimit-reset')).toBe(reset);
    expect(await limited.json()).toEqual({
      success: false,
      error: 'Error, too many requests. Please slow down. You must wait 40 seconds before trying this endpoint again. [error-too-many-requests]',
    });
    // Per endpoint: another route still has its own budget.
    expect((await post('users.deactivateIdle', { daysIdle: 30 })).status).toBe(200);
    clock.advance(40_000);
    expect((await info('username=ada')).status).toBe(200);
  });

  test('the limiter can be turned off, and api-bypass-rate-limit exempts the caller', async () => {
    for (const rocketchat of [{ rateLimit: false as const }, { permissions: ['edit-other-user-active-status', 'api-bypass-rate-limit'] }]) {
      const { simulator, info } = await setUp({ rocketchat: { ...rocketchat } });
      simulator.seedUser({ username: 'ada' });
      for (let call = 0; call < 12; call += 1) {
        const response = await info('username=ada');
        expect(response.status).toBe(200);
        expect(response.headers.get('x-ratelimit-limit')).toBeNull();
      }
    }
  });

  test('users.setActiveStatus validates its body like Rocket.Chat', async () => {
    const { simulator, post } = await setUp();
    const ada = simulator.seedUser({ username: 'ada' });

    const missing = await post('users.setActiveStatus', { userId: ada._id });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      success: false,
      error: "must have required property 'activeStatus' [invalid-params]",
      errorType: 'invalid-params',
    });
    const unknown = await post('users.setActiveStatus', { userId: 'nobody', activeStatus: false });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ success: false, error: 'User not found' });
    const done = await post('users.setActiveStatus', { userId: ada._id, activeStatus: false });
    expect(await done.json()).toEqual({ user: { _id: ada._id, active: false }, success: true });
  });

  test('the last owner of a room is refused with user-last-owner unless confirmRelinquish is true', async () => {
    const { simulator, post } = await setUp();
    const ada = simulator.seedUser({ username: 'ada' });
    const bob = simulator.seedUser({ username: 'bob' });
    simulator.seedRoom({ name: 'shared', owners: ['ada'], members: ['bob'] });
    simulator.seedRoom({ name: 'solo', owners: ['ada'] });
    simulator.seedRoom({ name: 'co-owned', owners: ['ada', 'bob'] });

    for (const confirmRelinquish of [undefined, false]) {
      const refused = await post('users.setActiveStatus', { userId: ada._id, activeStatus: false, confirmRelinquish });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toEqual({
        success: false,
        error: '[user-last-owner]',
        errorType: 'user-last-owner',
        details: { shouldChangeOwner: ['shared'], shouldBeRemoved: ['solo'] },
      });
    }
    expect(simulator.users()[0]?.active).toBe(true);

    const confirmed = await post('users.setActiveStatus', { userId: ada._id, activeStatus: false, confirmRelinquish: true });
    expect(confirmed.status).toBe(200);
    expect(simulator.rooms().map((room) => [room.name, room.owners])).toEqual([
      ['shared', [bob._id]],
      ['co-owned', [ada._id, bob._id]],
    ]);
  });

  test('users.deactivateIdle requires daysIdle and the permission', async () => {
    const { post } = await setUp();
    const missing = await post('users.deactivateIdle', { role: 'user' });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ success: false, error: "must have required property 'daysIdle' [invalid-params]" });

    const { post: postWithoutPermission } = await setUp({ rocketchat: { permissions: [] } });
    const forbidden = await postWithoutPermission('users.deactivateIdle', { daysIdle: 1 });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toEqual({ success: false, error: 'unauthorized' });
  });

  test('records every vendor call with its status and without the token, and not its own control calls', async () => {
    const { simulator, info, base } = await setUp();
    await postJson(`${base}/_sim/users`, { username: 'ada' });
    await info('username=ada');

    const calls = (await (await fetch(`${base}/_sim/calls`)).json()) as unknown[];
    expect(calls).toEqual(simulator.calls());
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: 'GET', path: '/api/v1/users.info', query: { username: 'ada' }, status: 200 });
    expect(JSON.stringify(calls)).not.toContain(SIMULATOR_CREDENTIALS.rocketchat.authToken);
  });
});
