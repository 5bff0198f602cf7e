import { describe, expect, test } from 'vitest';
import { AccountNotFoundError, PermanentDownstreamError, RetryableDownstreamError } from '../../src/connectors/errors.js';
import { createUserApiConnector, type UserApiConnectorConfig } from '../../src/connectors/userapi/connector.js';
import { SIMULATOR_CREDENTIALS, type SimulatorServerOptions } from '../../src/simulators/index.js';
import { identity, rejectionOf, simulatorServers } from '../simulators/harness.js';

const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}, connector: Partial<UserApiConnectorConfig> = {}) {
  const { clock, server } = await startServer(options);
  const simulator = server.simulators.userapi;
  const userApi = createUserApiConnector({
    baseUrl: server.urls.userapi,
    ...SIMULATOR_CREDENTIALS.userapi,
    now: clock.now,
    ...connector,
  });
  return { clock, simulator, userApi, server };
}

const deactivation = { idempotencyKey: 'jml-event-1-userapi-deactivate' };
const ADA = '110747174434373672';

describe('generic user API connector', () => {
  test('takes the user id from externalId by default, without calling the API', async () => {
    const { simulator, userApi } = await setUp();

    expect(await userApi.resolveAccount(identity())).toBe(ADA);
    expect(await userApi.resolveAccount(identity({ externalId: null }))).toBeNull();
    expect(await userApi.resolveAccount(identity({ externalId: '  ' }))).toBeNull();
    expect(simulator.calls()).toEqual([]);
  });

  test('deactivates with both credentials and the idempotency-ref from the action context', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA });

    await userApi.deactivate(ADA, deactivation);

    expect(simulator.users()).toEqual([{ id: ADA, active: false }]);
    const [call] = simulator.calls();
    expect(call).toMatchObject({ method: 'POST', path: `/v1/users/${ADA}/deactivate`, status: 204 });
    expect(call?.headers).toMatchObject({
      'idempotency-ref': deactivation.idempotencyKey,
      'api-key': '[redacted]',
      authorization: '[redacted]',
    });
  });

  test('the same idempotency-ref twice performs one deactivation and replays its result', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA });

    await userApi.deactivate(ADA, deactivation);
    // Reactivated by someone else in between: a replay must not deactivate again.
    await userApi.reactivate(ADA, { idempotencyKey: 'jml-event-2-userapi-reactivate' });
    await userApi.deactivate(ADA, deactivation);

    expect(simulator.actions().map(({ action, idempotencyRef }) => [action, idempotencyRef])).toEqual([
      ['deactivate', deactivation.idempotencyKey],
      ['activate', 'jml-event-2-userapi-reactivate'],
    ]);
    expect(simulator.calls().map((call) => call.status)).toEqual([204, 204, 204]);
    expect(simulator.users()[0]?.active).toBe(true);
  });

  test('a repeat while the first is in flight is a retryable 409, and the first still completes once', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA });
    const hold = simulator.holdNextAction();

    const first = userApi.deactivate(ADA, deactivation);
    await hold.reached;
    const repeat = await rejectionOf(userApi.deactivate(ADA, deactivation));
    hold.release();
    await first;

    expect(repeat).toBeInstanceOf(RetryableDownstreamError);
    expect(repeat).toMatchObject({ status: 409, vendorMessage: 'IDEMPOTENT_REQUEST_IN_PROGRESS' });
    expect(simulator.actions()).toHaveLength(1);
    await userApi.deactivate(ADA, deactivation);
    expect(simulator.actions()).toHaveLength(1);
  });

  test('deactivating an already deactivated user (a new ref) succeeds and changes nothing', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA, active: false });

    await userApi.deactivate(ADA, deactivation);
    expect(simulator.calls()[0]?.status).toBe(204);
    expect(simulator.actions()).toEqual([]);
  });

  test('reactivates through POST /v1/users/{id}/activate', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA, active: false });

    expect(await userApi.reactivate(ADA, { idempotencyKey: 'jml-event-3-userapi-reactivate' })).toBe('reactivated');
    expect(simulator.users()[0]?.active).toBe(true);
    expect(simulator.calls()[0]?.path).toBe(`/v1/users/${ADA}/activate`);
  });

  test('an unknown user id (the documented 404 body) is AccountNotFoundError naming the id setting, never a deactivation (issue 14)', async () => {
    const { userApi } = await setUp();

    const error = await rejectionOf(userApi.deactivate('404404', deactivation));
    expect(error).toBeInstanceOf(AccountNotFoundError);
    expect(error).toMatchObject({ accountId: '404404', lookup: 'USERAPI_ID_ATTRIBUTE=externalId' });
    expect((error as Error).message).toContain('No user with id 404404');
    expect(await rejectionOf(userApi.reactivate('404404', { idempotencyKey: 'jml-event-4-userapi-reactivate' }))).toBeInstanceOf(AccountNotFoundError);
  });

  test('reads a user back and lists every user page by page', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA });
    for (let i = 0; i < 4; i += 1) simulator.seedUser({ id: `u${i}`, active: i < 2 });

    expect(await userApi.readAccount!(ADA)).toEqual({ accountId: ADA, active: true });
    expect(await userApi.readAccount!('404404')).toBeNull();
    const pages: { accountId: string; active: boolean }[][] = [];
    for await (const page of userApi.listAccounts!({ pageSize: 2 })) pages.push(page);
    expect(pages.flat().map((account) => `${account.accountId}:${account.active}`)).toEqual([`${ADA}:true`, 'u0:true', 'u1:true', 'u2:false', 'u3:false']);
    expect(simulator.calls().filter((call) => call.method === 'GET' && call.path === '/v1/users').map((call) => call.query)).toEqual([
      { offset: '0', limit: '2' },
      { offset: '2', limit: '2' },
      { offset: '4', limit: '2' },
    ]);
  });

  test('a lying API (204 and nothing applied) shows in the read', async () => {
    const { simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA });
    simulator.setFaults({ ignoreWrites: [ADA] });

    await userApi.deactivate(ADA, deactivation);
    expect(await userApi.readAccount!(ADA)).toEqual({ accountId: ADA, active: true });
  });

  test('a 404 without the API error body is a wrong USERAPI_URL, not a missing user', async () => {
    const { server } = await setUp();
    const wrong = createUserApiConnector({ baseUrl: `${server.urls.userapi}/v2`, ...SIMULATOR_CREDENTIALS.userapi });

    const error = await rejectionOf(wrong.deactivate(ADA, deactivation));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect((error as Error).message).toContain('check USERAPI_URL');
  });

  test('rejected credentials are permanent and name the settings to fix', async () => {
    const { simulator, userApi } = await setUp({}, { authToken: 'stale-token' });
    simulator.seedUser({ id: ADA });

    const error = await rejectionOf(userApi.deactivate(ADA, deactivation));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toContain('check USERAPI_API_KEY');
    expect((error as Error).message).toContain('USERAPI_TOKEN');
    expect((error as Error).message).not.toContain('stale-token');
  });

  test('credentials without the ADMIN role are refused (403) and permanent', async () => {
    const { simulator, userApi } = await setUp({ userapi: { role: 'USER' } });
    simulator.seedUser({ id: ADA });

    const error = await rejectionOf(userApi.deactivate(ADA, deactivation));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 403, vendorMessage: 'INSUFFICIENT_PERMISSIONS' });
    expect((error as Error).message).toContain('ADMIN role');
  });

  test('over the rate limit the Retry-After becomes the wait, and waiting it out is enough', async () => {
    const { clock, simulator, userApi } = await setUp({ userapi: { rateLimits: [{ limit: 2, windowMs: 60_000 }] } });
    simulator.seedUser({ id: ADA });
    const windowStart = clock.now();
    await userApi.deactivate(ADA, { idempotencyKey: 'a' });
    await userApi.deactivate(ADA, { idempotencyKey: 'b' });

    const limited = await rejectionOf(userApi.deactivate(ADA, { idempotencyKey: 'c' }));
    expect(limited).toBeInstanceOf(RetryableDownstreamError);
    expect(limited).toMatchObject({ status: 429, retryAfterMs: 60_000 });

    clock.advance((limited as RetryableDownstreamError).retryAfterMs! - 1);
    // Retry-After has whole seconds: 1 ms before the end it still asks for a (rounded-up) second.
    expect(await rejectionOf(userApi.deactivate(ADA, { idempotencyKey: 'c' }))).toMatchObject({ status: 429, retryAfterMs: 1_000 });
    clock.advance(1);
    await userApi.deactivate(ADA, { idempotencyKey: 'c' });

    const answered = simulator.calls().filter((call) => call.status === 204);
    expect(answered.map((call) => call.at)).toEqual([windowStart, windowStart, windowStart + 60_000]);
  });

  test.each([500, 503])('%i is retryable', async (status) => {
    const { simulator, userApi } = await setUp();
    simulator.setFaults({ statusByAccount: { [ADA]: status } });

    const error = await rejectionOf(userApi.deactivate(ADA, deactivation));
    expect(error).toBeInstanceOf(RetryableDownstreamError);
    expect(error).toMatchObject({ status });
  });

  test.each([400, 413, 422])('%i is permanent', async (status) => {
    const { simulator, userApi } = await setUp();
    simulator.setFaults({ statusByAccount: { [ADA]: status } });

    const error = await rejectionOf(userApi.deactivate(ADA, deactivation));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status });
  });

  test('an outage is retryable until its window ends', async () => {
    const { clock, simulator, userApi } = await setUp();
    simulator.seedUser({ id: ADA });
    simulator.setFaults({ outageUntil: new Date(clock.now() + 60_000).toISOString() });

    expect(await rejectionOf(userApi.deactivate(ADA, deactivation))).toMatchObject({ name: 'RetryableDownstreamError', status: 503 });
    clock.advance(60_000);
    await userApi.deactivate(ADA, deactivation);
    expect(simulator.users()[0]?.active).toBe(false);
  });
});
