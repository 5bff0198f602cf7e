import { describe, expect, test } from 'vitest';
import { createConnectors, parseConnectorsConfig } from '../../src/connectors/config.js';
import { AccountNotFoundError, PermanentDownstreamError, RetryableDownstreamError } from '../../src/connectors/errors.js';
import { createRocketChatConnector, type RocketChatConnectorConfig } from '../../src/connectors/rocketchat/connector.js';
import {
  SIMULATOR_CREDENTIALS,
  simulatorConnectorEnvironment,
  type SimulatorServerOptions,
} from '../../src/simulators/index.js';
import { deadUrl, identity, rejectionOf, simulatorServers } from '../simulators/harness.js';

const context = { idempotencyKey: 'jml-event-1-rocketchat-deactivate' };
const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}, connector: Partial<RocketChatConnectorConfig> = {}) {
  const { clock, server } = await startServer({ ...options, rocketchat: { rateLimit: false, ...options.rocketchat } });
  const simulator = server.simulators.rocketchat;
  const rocketChat = createRocketChatConnector({
    baseUrl: server.urls.rocketchat,
    ...SIMULATOR_CREDENTIALS.rocketchat,
    now: clock.now,
    ...connector,
  });
  return { clock, simulator, rocketChat, server };
}

describe('Rocket.Chat connector', () => {
  test('finds the user by username and deactivates them, confirming relinquish by default', async () => {
    const { simulator, rocketChat } = await setUp();
    const ada = simulator.seedUser({ username: 'ada.lovelace', email: 'ada.lovelace@example.com' });

    const accountId = await rocketChat.resolveAccount(identity());
    expect(accountId).toBe(ada._id);
    await rocketChat.deactivate(accountId!, context);

    expect(simulator.users().find((user) => user._id === ada._id)?.active).toBe(false);
    const [lookup, deactivation] = simulator.calls();
    expect(lookup).toMatchObject({ method: 'GET', path: '/api/v1/users.info', query: { username: 'ada.lovelace' }, status: 200 });
    expect(deactivation).toMatchObject({
      method: 'POST',
      path: '/api/v1/users.setActiveStatus',
      body: { userId: ada._id, activeStatus: false, confirmRelinquish: true },
      status: 200,
    });
    expect(deactivation?.headers['x-user-id']).toBe(SIMULATOR_CREDENTIALS.rocketchat.userId);
    expect(deactivation?.headers['x-auth-token']).toBe('[redacted]');
  });

  test('looks users up by email when ROCKETCHAT_LOOKUP says so', async () => {
    const { simulator, server } = await setUp();
    const ada = simulator.seedUser({ username: 'not-the-username', email: 'Ada.Lovelace@example.com' });
    const { rocketchat } = createConnectors(
      parseConnectorsConfig({ ...simulatorConnectorEnvironment(server.urls), ROCKETCHAT_LOOKUP: 'email:email' }),
    );

    expect(await rocketchat!.resolveAccount(identity())).toBe(ada._id);
    expect(simulator.calls()[0]?.query).toEqual({ email: 'ada.lovelace@example.com' });
  });

  test('an unknown user resolves to null, and an identity without the attribute makes no call', async () => {
    const { simulator, rocketChat } = await setUp();

    expect(await rocketChat.resolveAccount(identity({ userName: 'nobody' }))).toBeNull();
    expect(simulator.calls()).toHaveLength(1);
    expect(await rocketChat.resolveAccount(identity({ userName: '' }))).toBeNull();
    expect(simulator.calls()).toHaveLength(1);
  });

  test('deactivating an already deactivated user succeeds again, and reactivation turns them back on', async () => {
    const { simulator, rocketChat } = await setUp();
    const ada = simulator.seedUser({ username: 'ada.lovelace' });

    await rocketChat.deactivate(ada._id, context);
    await rocketChat.deactivate(ada._id, context);
    expect(simulator.calls().map((call) => call.status)).toEqual([200, 200]);
    expect(simulator.users()[0]?.active).toBe(false);

    expect(await rocketChat.reactivate(ada._id, context)).toBe('reactivated');
    expect(simulator.users()[0]?.active).toBe(true);
    expect(simulator.calls().at(-1)?.body).toEqual({ userId: ada._id, activeStatus: true });
  });

  test('a user deleted since it was resolved is AccountNotFoundError, never a deactivation (issue 14)', async () => {
    const { rocketChat } = await setUp();

    const deactivation = await rejectionOf(rocketChat.deactivate('deletedUserId0001', context));
    expect(deactivation).toBeInstanceOf(AccountNotFoundError);
    expect(deactivation).toMatchObject({ name: 'AccountNotFoundError', accountId: 'deletedUserId0001', lookup: 'ROCKETCHAT_LOOKUP=username:<attribute>' });
    expect(await rejectionOf(rocketChat.reactivate('deletedUserId0001', context))).toBeInstanceOf(AccountNotFoundError);
  });

  test('users.info by userId reads the account back, and users.list pages through every user', async () => {
    const { simulator, rocketChat } = await setUp();
    const ada = simulator.seedUser({ username: 'ada.lovelace', email: 'ada@example.com' });
    for (let i = 0; i < 5; i += 1) simulator.seedUser({ username: `user${i}`, active: i % 2 === 0 });

    expect(await rocketChat.readAccount!(ada._id)).toEqual({ accountId: ada._id, active: true });
    expect(await rocketChat.readAccount!('deletedUserId0001')).toBeNull();
    const pages: { accountId: string; active: boolean; keys: string[] }[][] = [];
    for await (const page of rocketChat.listAccounts!({ pageSize: 2 })) pages.push(page);
    expect(pages.map((page) => page.length)).toEqual([2, 2, 2]);
    expect(pages.flat().map((account) => account.keys[0])).toEqual(['ada.lovelace', 'user0', 'user1', 'user2', 'user3', 'user4']);
    expect(pages.flat().filter((account) => !account.active)).toHaveLength(2);
    expect(simulator.calls().filter((call) => call.path === '/api/v1/users.list').map((call) => call.query)).toEqual([
      { offset: '0', count: '2' },
      { offset: '2', count: '2' },
      { offset: '4', count: '2' },
    ]);
  });

  test('rejected credentials are permanent and name the settings to fix', async () => {
    const { simulator, rocketChat } = await setUp({}, { authToken: 'revoked-token' });
    simulator.seedUser({ username: 'ada.lovelace' });

    const error = await rejectionOf(rocketChat.resolveAccount(identity()));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ name: 'PermanentDownstreamError', status: 401, vendorMessage: 'You must be logged in to do this.' });
    expect((error as Error).message).toContain('check ROCKETCHAT_USER_ID and ROCKETCHAT_AUTH_TOKEN');
    expect((error as Error).message).not.toContain('revoked-token');
  });

  test('a token without edit-other-user-active-status is permanent and says which permission is missing', async () => {
    const { simulator, rocketChat } = await setUp({ rocketchat: { permissions: [] } });
    const ada = simulator.seedUser({ username: 'ada.lovelace' });

    const error = await rejectionOf(rocketChat.deactivate(ada._id, context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 403, vendorMessage: 'unauthorized' });
    expect((error as Error).message).toContain('lacks the permission edit-other-user-active-status');
    expect(simulator.users()[0]?.active).toBe(true);
  });

  test.each([500, 502, 503])('%i is retryable', async (status) => {
    const { simulator, rocketChat } = await setUp();
    simulator.seedUser({ username: 'ada.lovelace' });
    simulator.setFaults({ statusByAccount: { 'ada.lovelace': status } });

    const error = await rejectionOf(rocketChat.resolveAccount(identity()));
    expect(error).toBeInstanceOf(RetryableDownstreamError);
    expect(error).toMatchObject({ name: 'RetryableDownstreamError', status });
  });

  test.each([400, 413, 422])('%i is permanent and keeps the vendor text', async (status) => {
    const { simulator, rocketChat } = await setUp();
    const ada = simulator.seedUser({ username: 'ada.lovelace' });
    simulator.setFaults({ statusByAccount: { [ada._id]: status } });

    const error = await rejectionOf(rocketChat.deactivate(ada._id, context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status, vendorMessage: 'simulated failure for this account' });
  });

  test('an outage is retryable until it ends', async () => {
    const { clock, simulator, rocketChat } = await setUp();
    simulator.seedUser({ username: 'ada.lovelace' });
    simulator.setFaults({ outageUntil: clock.now() + 30_000 });

    expect(await rejectionOf(rocketChat.resolveAccount(identity()))).toBeInstanceOf(RetryableDownstreamError);
    clock.advance(30_000);
    expect(await rocketChat.resolveAccount(identity())).not.toBeNull();
  });

  test('a 404 means a wrong ROCKETCHAT_URL, never a missing user, and is permanent', async () => {
    const { rocketChat, server } = await setUp();
    const wrong = createRocketChatConnector({ baseUrl: `${server.baseUrl}/not-rocketchat`, ...SIMULATOR_CREDENTIALS.rocketchat });

    const error = await rejectionOf(wrong.resolveAccount(identity()));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 404 });
    expect((error as Error).message).toContain('check ROCKETCHAT_URL');
    expect(rocketChat.system).toBe('rocketchat');
  });

  test('an unreachable server and a slow one are retryable', async () => {
    const unreachable = createRocketChatConnector({ baseUrl: await deadUrl(), ...SIMULATOR_CREDENTIALS.rocketchat });
    const refused = await rejectionOf(unreachable.resolveAccount(identity()));
    expect(refused).toBeInstanceOf(RetryableDownstreamError);
    expect((refused as Error).message).toContain('ECONNREFUSED');

    const { simulator, rocketChat } = await setUp({}, { timeoutMs: 100 });
    simulator.setFaults({ latencyMs: 1_000 });
    const slow = await rejectionOf(rocketChat.resolveAccount(identity()));
    expect(slow).toBeInstanceOf(RetryableDownstreamError);
    expect((slow as Error).message).toContain('no answer within 100 ms');
  });

  test('a rate-limited call carries the wait until X-RateLimit-Reset, and waiting that long is enough', async () => {
    const { clock, simulator, rocketChat } = await setUp({ rocketchat: { rateLimit: { limit: 2, windowMs: 60_000 } } });
    simulator.seedUser({ username: 'ada.lovelace' });
    const windowStart = clock.now();
    await rocketChat.resolveAccount(identity());
    clock.advance(5_000);
    await rocketChat.resolveAccount(identity());

    const limited = await rejectionOf(rocketChat.resolveAccount(identity()));
    expect(limited).toBeInstanceOf(RetryableDownstreamError);
    expect(limited).toMatchObject({
      status: 429,
      retryAfterMs: 55_000,
      vendorMessage:
        'Error, too many requests. Please slow down. You must wait 55 seconds before trying this endpoint again. [error-too-many-requests]',
    });

    // One millisecond short of the hint the limiter still refuses; at the hint it lets the call through.
    clock.advance((limited as RetryableDownstreamError).retryAfterMs! - 1);
    expect(await rejectionOf(rocketChat.resolveAccount(identity()))).toMatchObject({ status: 429, retryAfterMs: 1 });
    clock.advance(1);
    expect(await rocketChat.resolveAccount(identity())).not.toBeNull();

    const reset = windowStart + 60_000;
    const answered = simulator.calls().filter((call) => call.status === 200);
    expect(answered.map((call) => call.at)).toEqual([windowStart, windowStart + 5_000, reset]);
  });

  test('with confirmRelinquish off, the last owner of a room is refused with a message that says what to do', async () => {
    const { simulator, rocketChat } = await setUp({}, { confirmRelinquish: false });
    const ada = simulator.seedUser({ username: 'ada.lovelace' });
    simulator.seedUser({ username: 'charles.babbage' });
    simulator.seedRoom({ name: 'analytical-engine', owners: ['ada.lovelace'], members: ['charles.babbage'] });

    const error = await rejectionOf(rocketChat.deactivate(ada._id, context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 400, vendorMessage: '[user-last-owner]' });
    expect((error as Error).message).toContain('analytical-engine');
    expect((error as Error).message).toContain('ROCKETCHAT_CONFIRM_RELINQUISH=true');
    expect(simulator.users().find((user) => user._id === ada._id)?.active).toBe(true);
  });

  test('with confirmRelinquish on (the default), the last owner is deactivated and the oldest member takes the room', async () => {
    const { simulator, rocketChat } = await setUp();
    const ada = simulator.seedUser({ username: 'ada.lovelace' });
    const charles = simulator.seedUser({ username: 'charles.babbage' });
    simulator.seedUser({ username: 'mary.somerville' });
    simulator.seedRoom({ name: 'analytical-engine', owners: ['ada.lovelace'], members: ['charles.babbage', 'mary.somerville'] });

    await rocketChat.deactivate(ada._id, context);

    expect(simulator.users().find((user) => user._id === ada._id)?.active).toBe(false);
    expect(simulator.rooms()[0]?.owners).toEqual([charles._id]);
  });

  test('deactivateIdle deactivates users of the role idle for longer than daysIdle and returns the count', async () => {
    const { clock, simulator, rocketChat } = await setUp();
    const daysAgo = (days: number) => clock.now() - days * 86_400_000;
    simulator.seedUser({ username: 'idle-user', lastLogin: daysAgo(45) });
    simulator.seedUser({ username: 'recent-user', lastLogin: daysAgo(3) });
    simulator.seedUser({ username: 'never-logged-in' });
    simulator.seedUser({ username: 'idle-admin', roles: ['admin'], lastLogin: daysAgo(45) });

    expect(await rocketChat.deactivateIdle({ daysIdle: 30 })).toEqual({ count: 1 });
    const active = Object.fromEntries(simulator.users().map((user) => [user.username, user.active]));
    expect(active).toEqual({ 'idle-user': false, 'recent-user': true, 'never-logged-in': true, 'idle-admin': true });
    expect(await rocketChat.deactivateIdle({ daysIdle: 30, role: 'admin' })).toEqual({ count: 1 });
    expect(simulator.calls().at(-1)?.body).toEqual({ daysIdle: 30, role: 'admin' });
  });

  test('deactivateIdle without the permission is permanent', async () => {
    const { rocketChat } = await setUp({ rocketchat: { permissions: ['manage-moderation-actions'] } });

    const error = await rejectionOf(rocketChat.deactivateIdle({ daysIdle: 30 }));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect((error as Error).message).toContain('edit-other-user-active-status');
  });
});
