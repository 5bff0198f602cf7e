import { describe, expect, test } from 'vitest';
import { PermanentDownstreamError, RetryableDownstreamError } from '../../src/connectors/errors.js';
import { mendixError } from '../../src/connectors/mendix/classify.js';
import { createMendixConnector, type MendixConnectorConfig } from '../../src/connectors/mendix/connector.js';
import { MENDIX_SCOPES, SIMULATOR_CREDENTIALS, type SimulatorServerOptions } from '../../src/simulators/index.js';
import { identity, rejectionOf, simulatorServers } from '../simulators/harness.js';

const context = { idempotencyKey: 'jml-event-1-mendix-deactivate' };
const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}, connector: Partial<MendixConnectorConfig> = {}) {
  const { clock, server } = await startServer(options);
  const simulator = server.simulators.mendix;
  const mendix = createMendixConnector({
    deactivationBaseUrl: server.urls.mendix,
    identifierBaseUrl: server.urls.mendix,
    pat: SIMULATOR_CREDENTIALS.mendix.pat,
    now: clock.now,
    ...connector,
  });
  return { clock, simulator, mendix, server };
}

describe('Mendix connector', () => {
  test('finds the uuid by email and deactivates the platform user', async () => {
    const { simulator, mendix } = await setUp();
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com' });

    const uuid = await mendix.resolveAccount(identity());
    expect(uuid).toBe(ada.uuid);
    await mendix.deactivate(uuid!, context);

    expect(simulator.users()[0]).toEqual({ uuid: ada.uuid, email: ada.email, active: false });
    expect(simulator.calls()).toMatchObject([
      { method: 'POST', path: '/v1/uuids', body: { emailAddresses: [{ emailAddress: 'ada.lovelace@example.com' }] }, status: 200 },
      { method: 'PATCH', path: `/v1/platform-users/${ada.uuid}`, body: { active: false }, status: 204 },
    ]);
    expect(simulator.calls()[1]?.headers.authorization).toBe('[redacted]');
  });

  test('finds the uuids of many people in one POST /v1/uuids, each answered for itself (decision 066)', async () => {
    const { simulator, mendix } = await setUp();
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com' });
    const grace = simulator.seedUser({ email: 'grace.hopper@example.com' });
    const people = [
      identity(),
      identity({ id: 'grace', email: 'Grace.Hopper@example.com' }),
      identity({ id: 'nobody', email: 'nobody@example.com' }),
      identity({ id: 'no-email', email: null }),
    ];

    const found = await mendix.resolveAccounts!(people);

    expect(Object.fromEntries(found)).toEqual({ [identity().id]: ada.uuid, grace: grace.uuid, nobody: null, 'no-email': null });
    expect(simulator.calls()).toMatchObject([
      {
        method: 'POST',
        path: '/v1/uuids',
        body: { emailAddresses: [{ emailAddress: 'ada.lovelace@example.com' }, { emailAddress: 'Grace.Hopper@example.com' }, { emailAddress: 'nobody@example.com' }] },
        status: 200,
      },
    ]);
  });

  test('uses the identifier API on its own host, with its own PAT when one is given', async () => {
    const identifierToken = { token: 'identifier-pat', scopes: [MENDIX_SCOPES.readUuids], ownerUuid: SIMULATOR_CREDENTIALS.mendix.adminUuid };
    const deactivationToken = { token: 'deactivation-pat', scopes: [MENDIX_SCOPES.deactivateUsers], ownerUuid: SIMULATOR_CREDENTIALS.mendix.adminUuid };
    const identifierHost = await setUp({ mendix: { tokens: [identifierToken] } });
    const deactivationHost = await setUp({ mendix: { tokens: [deactivationToken] } });
    const ada = identifierHost.simulator.seedUser({ email: 'ada.lovelace@example.com' });
    deactivationHost.simulator.seedUser({ uuid: ada.uuid, email: ada.email });
    const mendix = createMendixConnector({
      deactivationBaseUrl: deactivationHost.server.urls.mendix,
      identifierBaseUrl: identifierHost.server.urls.mendix,
      pat: 'deactivation-pat',
      identifierPat: 'identifier-pat',
    });

    await mendix.deactivate((await mendix.resolveAccount(identity()))!, context);

    expect(identifierHost.simulator.calls().map((call) => call.path)).toEqual(['/v1/uuids']);
    expect(deactivationHost.simulator.calls().map((call) => call.path)).toEqual([`/v1/platform-users/${ada.uuid}`]);
    expect(deactivationHost.simulator.users()[0]?.active).toBe(false);
  });

  test('an unknown email resolves to null, and an identity without email makes no call', async () => {
    const { simulator, mendix } = await setUp();
    simulator.seedUser({ email: 'someone.else@example.com' });

    expect(await mendix.resolveAccount(identity())).toBeNull();
    expect(simulator.calls()).toHaveLength(1);
    expect(await mendix.resolveAccount(identity({ email: null }))).toBeNull();
    expect(simulator.calls()).toHaveLength(1);
  });

  test('deactivating an already deactivated user succeeds again (204)', async () => {
    const { simulator, mendix } = await setUp();
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com', active: false });

    await mendix.deactivate(ada.uuid, context);
    await mendix.deactivate(ada.uuid, context);
    expect(simulator.calls().map((call) => call.status)).toEqual([204, 204]);
  });

  test('reactivation is unsupported and calls nothing', async () => {
    const { simulator, mendix } = await setUp();
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com', active: false });

    expect(await mendix.reactivate(ada.uuid, context)).toBe('unsupported');
    expect(simulator.calls()).toEqual([]);
  });

  test('a rejected PAT is permanent and names the setting to fix', async () => {
    const { mendix } = await setUp({}, { pat: 'expired-pat' });

    const error = await rejectionOf(mendix.resolveAccount(identity()));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toContain('check MENDIX_IDENTIFIER_PAT (or MENDIX_PAT)');
    expect((error as Error).message).not.toContain('expired-pat');
  });

  test('a PAT without the deactivation scope is permanent and names the scope', async () => {
    const readOnly = { token: 'read-only', scopes: [MENDIX_SCOPES.readUuids], ownerUuid: SIMULATOR_CREDENTIALS.mendix.adminUuid };
    const { simulator, mendix } = await setUp({ mendix: { tokens: [readOnly] } }, { pat: 'read-only' });
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com' });

    const error = await rejectionOf(mendix.deactivate(ada.uuid, context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 403, vendorMessage: 'The token lacks the scope mx:user-deactivation:write' });
    expect((error as Error).message).toContain('needs the scope mx:user-deactivation:write');
  });

  test('a PAT without the identifier scope is permanent and names that scope', async () => {
    const writeOnly = { token: 'write-only', scopes: [MENDIX_SCOPES.deactivateUsers], ownerUuid: SIMULATOR_CREDENTIALS.mendix.adminUuid };
    const { mendix } = await setUp({ mendix: { tokens: [writeOnly] } }, { pat: 'write-only' });

    const error = await rejectionOf(mendix.resolveAccount(identity()));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect((error as Error).message).toContain('mx:mxid3:user-identifiers:uuid:read');
  });

  test('deactivating the admin who owns the PAT is refused (403) and permanent', async () => {
    const { simulator, mendix } = await setUp();
    simulator.seedUser({ uuid: SIMULATOR_CREDENTIALS.mendix.adminUuid, email: 'admin@example.com' });

    const error = await rejectionOf(mendix.deactivate(SIMULATOR_CREDENTIALS.mendix.adminUuid, context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 403, vendorMessage: 'You cannot deactivate yourself' });
    expect(simulator.users()[0]?.active).toBe(true);
  });

  test('the rate limit (429 "API rate limit exceeded") is retryable', async () => {
    const { simulator, mendix } = await setUp({ mendix: { rateLimit: { limit: 1, windowMs: 60_000 } } });
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com' });
    await mendix.resolveAccount(identity());

    const error = await rejectionOf(mendix.deactivate(ada.uuid, context));
    expect(error).toBeInstanceOf(RetryableDownstreamError);
    // Mendix documents no Retry-After, so the caller's own backoff applies.
    expect(error).toMatchObject({ status: 429, vendorMessage: 'API rate limit exceeded', retryAfterMs: undefined });
  });

  test('a Retry-After, should Mendix send one, becomes the retry delay', () => {
    const now = Date.parse('2026-03-02T09:00:00Z');
    const error = mendixError(
      { status: 429, headers: new Headers({ 'retry-after': 'Mon, 02 Mar 2026 09:00:30 GMT' }), body: { message: 'API rate limit exceeded' } },
      'user-deactivation',
      now,
    );
    expect(error).toBeInstanceOf(RetryableDownstreamError);
    expect(error.retryAfterMs).toBe(30_000);
  });

  test.each([500, 503])('%i is retryable', async (status) => {
    const { simulator, mendix } = await setUp();
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com' });
    simulator.setFaults({ statusByAccount: { [ada.email]: status } });

    expect(await rejectionOf(mendix.deactivate(ada.uuid, context))).toBeInstanceOf(RetryableDownstreamError);
  });

  test.each([400, 413, 422])('%i is permanent', async (status) => {
    const { simulator, mendix } = await setUp();
    const ada = simulator.seedUser({ email: 'ada.lovelace@example.com' });
    simulator.setFaults({ statusByAccount: { [ada.uuid]: status } });

    const error = await rejectionOf(mendix.deactivate(ada.uuid, context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status, vendorMessage: 'simulated failure for this account' });
  });

  test('a 404 on deactivation is permanent: Mendix does not document it, and a wrong MENDIX_URL looks the same', async () => {
    const { mendix } = await setUp();

    const error = await rejectionOf(mendix.deactivate('0b4e2a36-6a55-4c4e-9a43-2a7d5c1e9f00', context));
    expect(error).toBeInstanceOf(PermanentDownstreamError);
    expect(error).toMatchObject({ status: 404 });
    expect((error as Error).message).toContain('MENDIX_URL');
  });
});
