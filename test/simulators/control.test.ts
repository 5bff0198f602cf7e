// What all three simulators share: control routes, fault injection, seeding, body limits.
import { describe, expect, test } from 'vitest';
import { SIMULATOR_CREDENTIALS, type SimulatorServerOptions } from '../../src/simulators/index.js';
import { postJson, simulatorServers } from './harness.js';

const rocketChatAuth = { 'X-User-Id': SIMULATOR_CREDENTIALS.rocketchat.userId, 'X-Auth-Token': SIMULATOR_CREDENTIALS.rocketchat.authToken };
const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}) {
  const { clock, server } = await startServer({ rocketchat: { rateLimit: false }, ...options });
  const { urls } = server;
  return {
    clock,
    simulators: server.simulators,
    urls,
    info: (username: string) => fetch(`${urls.rocketchat}/api/v1/users.info?username=${username}`, { headers: rocketChatAuth }),
  };
}

describe('simulator control routes and faults', () => {
  test('faults set over HTTP: a given status for a given user only', async () => {
    const { simulators, urls, info } = await setUp();
    simulators.rocketchat.seedUser({ username: 'ada' });
    simulators.rocketchat.seedUser({ username: 'bob' });

    const set = await postJson(`${urls.rocketchat}/_sim/faults`, { statusByAccount: { ada: 403 } });
    expect(await set.json()).toEqual({ statusByAccount: { ada: 403 } });

    const refused = await info('ada');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ success: false, error: 'unauthorized' });
    expect((await info('bob')).status).toBe(200);
    // The account is recognised by any of its identifiers, here its id on setActiveStatus.
    const ada = simulators.rocketchat.users().find((user) => user.username === 'ada')!;
    const byId = await postJson(`${urls.rocketchat}/api/v1/users.setActiveStatus`, { userId: ada._id, activeStatus: false }, rocketChatAuth);
    expect(byId.status).toBe(403);
  });

  test('an invalid fault setting is refused and the previous one stays', async () => {
    const { simulators, urls } = await setUp();
    simulators.mendix.setFaults({ errorRate: 0 });

    const response = await postJson(`${urls.mendix}/_sim/faults`, { errorRate: 2 });
    expect(response.status).toBe(400);
    expect(await (await fetch(`${urls.mendix}/_sim/faults`)).json()).toEqual({ errorRate: 0 });
  });

  test('the error rate answers random 5xx with the injected randomness', async () => {
    const rolls = [0.1, 0.0, 0.9];
    const { simulators, urls } = await setUp({ random: () => rolls.shift() ?? 0.99 });
    simulators.userapi.setFaults({ errorRate: 0.5 });
    const deactivate = () =>
      fetch(`${urls.userapi}/v1/users/42/deactivate`, {
        method: 'POST',
        headers: { 'api-key': SIMULATOR_CREDENTIALS.userapi.apiKey, authorization: `Bearer ${SIMULATOR_CREDENTIALS.userapi.authToken}` },
      });
    simulators.userapi.seedUser({ id: '42' });

    // 0.1 < 0.5 fails the call and 0.0 picks 500 of [500, 502, 503]; then 0.9 lets the next one through.
    expect((await deactivate()).status).toBe(500);
    expect((await deactivate()).status).toBe(204);
  });

  test('a hang holds calls about the account unanswered and without effect until the caller gives up', async () => {
    const { simulators, urls } = await setUp();
    simulators.userapi.seedUser({ id: '42' });
    simulators.userapi.seedUser({ id: '43' });
    simulators.userapi.setFaults({ hang: ['42'] });
    const deactivate = (id: string, signal?: AbortSignal) =>
      fetch(`${urls.userapi}/v1/users/${id}/deactivate`, {
        method: 'POST',
        headers: { 'api-key': SIMULATOR_CREDENTIALS.userapi.apiKey, authorization: `Bearer ${SIMULATOR_CREDENTIALS.userapi.authToken}` },
        signal,
      });
    const caller = new AbortController();
    const hung = deactivate('42', caller.signal);
    // Another account is answered meanwhile; the held call is counted once the simulator holds it.
    expect((await deactivate('43')).status).toBe(204);
    for (let polls = 0; simulators.userapi.heldCalls() < 1 && polls < 400; polls++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(simulators.userapi.heldCalls()).toBe(1);
    // Clearing the fault does not answer a call already held: only its caller ends it.
    simulators.userapi.setFaults({});
    caller.abort();
    await expect(hung).rejects.toThrow();
    for (let polls = 0; simulators.userapi.heldCalls() > 0 && polls < 400; polls++) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(simulators.userapi.heldCalls()).toBe(0);
    expect(simulators.userapi.users().find((user) => user.id === '42')!.active).toBe(true);
    expect(simulators.userapi.actions().map((action) => action.userId)).toEqual(['43']);
  });

  test('an outage answers 503 to every vendor call until it ends, but not to control calls', async () => {
    const { clock, simulators, urls, info } = await setUp();
    simulators.rocketchat.seedUser({ username: 'ada' });
    await postJson(`${urls.rocketchat}/_sim/faults`, { outageUntil: new Date(clock.now() + 10_000).toISOString() });

    expect((await info('ada')).status).toBe(503);
    expect((await fetch(`${urls.rocketchat}/_sim/users`)).status).toBe(200);
    clock.advance(10_000);
    expect((await info('ada')).status).toBe(200);
  });

  test('users are seeded over HTTP, singly or in a list, and invalid seeds are refused', async () => {
    const { urls } = await setUp();

    expect((await postJson(`${urls.userapi}/_sim/users`, [{ id: '1', owner: 'ada' }, { id: '2', active: false }])).status).toBe(201);
    // Whose account and its state first, for a person watching; the vendor's own record after.
    expect(await (await fetch(`${urls.userapi}/_sim/users`)).json()).toEqual([
      { owner: 'ada', state: 'active', account: { id: '1', active: true } },
      { owner: null, state: 'deactivated', account: { id: '2', active: false } },
    ]);
    expect((await postJson(`${urls.mendix}/_sim/users`, { email: 'not-an-email' })).status).toBe(400);
    expect((await postJson(`${urls.rocketchat}/_sim/users`, { username: 'ada', email: 'ada@example.com' })).status).toBe(201);
    expect((await postJson(`${urls.mendix}/_sim/users`, { email: 'ada@example.com', active: false })).status).toBe(201);
    expect(await (await fetch(`${urls.rocketchat}/_sim/users`)).json()).toMatchObject([{ owner: 'ada / ada@example.com', state: 'active' }]);
    expect(await (await fetch(`${urls.mendix}/_sim/users`)).json()).toMatchObject([{ owner: 'ada@example.com', state: 'deactivated' }]);
    const clash = await postJson(`${urls.rocketchat}/_sim/users`, { username: 'ada' });
    expect(clash.status).toBe(400);
    expect(await clash.json()).toMatchObject({ error: expect.stringContaining('username ada is taken') as unknown });
  });

  test('reset forgets users, calls and faults', async () => {
    const { simulators, urls, info } = await setUp();
    simulators.rocketchat.seedUser({ username: 'ada' });
    simulators.rocketchat.setFaults({ latencyMs: 1 });
    await info('ada');

    expect((await postJson(`${urls.rocketchat}/_sim/reset`, {})).status).toBe(204);
    expect(simulators.rocketchat.users()).toEqual([]);
    expect(simulators.rocketchat.calls()).toEqual([]);
    expect(await (await fetch(`${urls.rocketchat}/_sim/faults`)).json()).toEqual({});
  });

  test('bodies over the size limit get 413, unreadable ones 400, in the vendor shape', async () => {
    const { urls } = await setUp({ bodyLimit: '1kb' });
    const large = { emailAddresses: [{ emailAddress: `${'a'.repeat(2_000)}@example.com` }] };

    const tooLarge = await postJson(`${urls.mendix}/v1/uuids`, large, { authorization: `MxToken ${SIMULATOR_CREDENTIALS.mendix.pat}` });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ message: expect.any(String) as unknown });
    const unreadable = await fetch(`${urls.rocketchat}/api/v1/users.setActiveStatus`, {
      method: 'POST',
      headers: { ...rocketChatAuth, 'content-type': 'application/json' },
      body: '{"userId":',
    });
    expect(unreadable.status).toBe(400);
    expect(await unreadable.json()).toMatchObject({ success: false });
  });
});

describe('createSimulators', () => {
  test('seedFromIdentity finds or creates the matching account in all three systems', async () => {
    const { simulators } = await setUp();
    const person = { userName: 'ada', email: 'ada@example.com', externalId: null, id: 'scim-id-1' };

    const first = simulators.seedFromIdentity(person);
    const again = simulators.seedFromIdentity(person);

    expect(again).toEqual(first);
    expect(first.rocketchat).toMatchObject({ username: 'ada', emails: [{ address: 'ada@example.com' }], active: true });
    expect(first.mendix).toMatchObject({ email: 'ada@example.com', active: true });
    expect(first.userapi).toEqual({ id: 'scim-id-1', active: true });
    expect(simulators.seedFromIdentity({ userName: 'bob' })).toMatchObject({ mendix: null, userapi: null });
    expect(simulators.rocketchat.users()).toHaveLength(2);

    simulators.reset();
    expect([simulators.rocketchat.users(), simulators.mendix.users(), simulators.userapi.users()]).toEqual([[], [], []]);
  });
});
