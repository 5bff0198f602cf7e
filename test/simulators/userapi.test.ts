import { describe, expect, test } from 'vitest';
import { IDEMPOTENCY_RETENTION_MS, SIMULATOR_CREDENTIALS, type SimulatorServerOptions } from '../../src/simulators/index.js';
import { simulatorServers } from './harness.js';

const auth = { 'api-key': SIMULATOR_CREDENTIALS.userapi.apiKey, authorization: `Bearer ${SIMULATOR_CREDENTIALS.userapi.authToken}` };
const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}) {
  const { clock, server } = await startServer(options);
  const base = server.urls.userapi;
  return {
    clock,
    simulator: server.simulators.userapi,
    act: (userId: string, action: 'deactivate' | 'activate', headers: Record<string, string> = {}) =>
      fetch(`${base}/v1/users/${userId}/${action}`, { method: 'POST', headers: { ...auth, ...headers } }),
  };
}

describe('generic user API simulator', () => {
  test('needs both the api-key header and the bearer token', async () => {
    const { simulator, act } = await setUp();
    simulator.seedUser({ id: '42' });

    expect((await act('42', 'deactivate', { authorization: '' })).status).toBe(401);
    expect((await act('42', 'deactivate', { 'api-key': 'other' })).status).toBe(401);
    expect((await act('42', 'deactivate')).status).toBe(204);
  });

  test('answers 403 INSUFFICIENT_PERMISSIONS to credentials without the ADMIN role', async () => {
    const { act } = await setUp({ userapi: { role: 'USER' } });
    const response = await act('42', 'deactivate');
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ errorCode: 'INSUFFICIENT_PERMISSIONS' });
  });

  test('deactivate and activate are reversible and 204 whether or not they change anything', async () => {
    const { simulator, act } = await setUp();
    simulator.seedUser({ id: '42' });

    expect((await act('42', 'deactivate')).status).toBe(204);
    expect((await act('42', 'deactivate')).status).toBe(204);
    expect((await act('42', 'activate')).status).toBe(204);
    expect(simulator.actions().map((entry) => entry.action)).toEqual(['deactivate', 'activate']);
    const unknown = await act('7', 'deactivate');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ code: 'USER_NOT_FOUND', message: 'No user with id 7' });
  });

  test('a completed idempotency-ref replays its result for 24 hours, then counts as new', async () => {
    const { clock, simulator, act } = await setUp();
    simulator.seedUser({ id: '42' });
    const ref = { 'idempotency-ref': 'ref-1' };

    expect((await act('42', 'deactivate', ref)).status).toBe(204);
    expect((await act('42', 'activate')).status).toBe(204);
    expect((await act('42', 'deactivate', ref)).status).toBe(204);
    expect(simulator.users()[0]?.active).toBe(true);
    // The same reference on another operation is another request.
    expect((await act('42', 'activate', ref)).status).toBe(204);

    clock.advance(IDEMPOTENCY_RETENTION_MS);
    expect((await act('42', 'deactivate', ref)).status).toBe(204);
    expect(simulator.users()[0]?.active).toBe(false);
    expect(simulator.actions()).toHaveLength(3);
  });

  test('a repeat while the first is in flight gets 409 IDEMPOTENT_REQUEST_IN_PROGRESS', async () => {
    const { simulator, act } = await setUp();
    simulator.seedUser({ id: '42' });
    const hold = simulator.holdNextAction();

    const first = act('42', 'deactivate', { 'idempotency-ref': 'ref-1' });
    await hold.reached;
    const repeat = await act('42', 'deactivate', { 'idempotency-ref': 'ref-1' });
    hold.release();

    expect(repeat.status).toBe(409);
    expect(await repeat.json()).toEqual({ errorCode: 'IDEMPOTENT_REQUEST_IN_PROGRESS' });
    expect((await first).status).toBe(204);
    expect(simulator.actions()).toHaveLength(1);
  });

  test('each rate window answers 429 until it ends, with Retry-After in seconds', async () => {
    const { clock, simulator, act } = await setUp({
      userapi: { rateLimits: [{ limit: 2, windowMs: 60_000 }, { limit: 3, windowMs: 3_600_000 }] },
    });
    simulator.seedUser({ id: '42' });
    await act('42', 'deactivate');
    await act('42', 'deactivate');
    const minute = await act('42', 'deactivate');
    expect(minute.status).toBe(429);
    expect(minute.headers.get('retry-after')).toBe('60');

    clock.advance(60_000);
    expect((await act('42', 'deactivate')).status).toBe(204);
    clock.advance(60_000);
    const hour = await act('42', 'deactivate');
    expect(hour.status).toBe(429);
    expect(hour.headers.get('retry-after')).toBe(String(3_600 - 120));
  });

  test('the default windows are 100 a minute, 1,000 an hour and 10,000 a day', async () => {
    const { simulator, act } = await setUp();
    simulator.seedUser({ id: '42' });
    for (let call = 0; call < 100; call += 1) expect((await act('42', 'deactivate')).status).toBe(204);
    const limited = await act('42', 'deactivate');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
  });
});
