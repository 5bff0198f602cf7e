import { describe, expect, test } from 'vitest';
import { MENDIX_SCOPES, SIMULATOR_CREDENTIALS, type SimulatorServerOptions } from '../../src/simulators/index.js';
import { postJson, simulatorServers } from './harness.js';

const authorization = `MxToken ${SIMULATOR_CREDENTIALS.mendix.pat}`;
const startServer = simulatorServers();

async function setUp(options: SimulatorServerOptions = {}) {
  const { server } = await startServer(options);
  const base = server.urls.mendix;
  return {
    simulator: server.simulators.mendix,
    deactivate: (uuid: string, body: unknown = { active: false }, header = authorization) =>
      fetch(`${base}/v1/platform-users/${uuid}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', authorization: header },
        body: JSON.stringify(body),
      }),
    uuids: (emails: string[], header = authorization) =>
      postJson(`${base}/v1/uuids`, { emailAddresses: emails.map((emailAddress) => ({ emailAddress })) }, { authorization: header }),
  };
}

describe('Mendix simulator', () => {
  test('PATCH /v1/platform-users/{uuid} with {"active": false} answers 204, also for an inactive user', async () => {
    const { simulator, deactivate } = await setUp();
    const ada = simulator.seedUser({ email: 'ada@example.com' });

    for (let repeat = 0; repeat < 2; repeat += 1) {
      const response = await deactivate(ada.uuid);
      expect(response.status).toBe(204);
      expect(await response.text()).toBe('');
    }
    expect(simulator.users()).toEqual([{ uuid: ada.uuid, email: 'ada@example.com', active: false }]);
  });

  test('only {"active": false} is accepted: no reactivation through this API', async () => {
    const { simulator, deactivate } = await setUp();
    const ada = simulator.seedUser({ email: 'ada@example.com', active: false });

    const response = await deactivate(ada.uuid, { active: true });
    expect(response.status).toBe(400);
    expect(simulator.users()[0]?.active).toBe(false);
  });

  test('wants "Authorization: MxToken <PAT>" with the right scope for each API', async () => {
    const readOnly = { token: 'read-only', scopes: [MENDIX_SCOPES.readUuids], ownerUuid: SIMULATOR_CREDENTIALS.mendix.adminUuid };
    const { simulator, deactivate, uuids } = await setUp({
      mendix: { tokens: [readOnly, { ...readOnly, token: 'write-only', scopes: [MENDIX_SCOPES.deactivateUsers] }] },
    });
    const ada = simulator.seedUser({ email: 'ada@example.com' });

    expect((await deactivate(ada.uuid, undefined, 'Bearer read-only')).status).toBe(401);
    expect((await deactivate(ada.uuid, undefined, 'MxToken unknown')).status).toBe(401);
    expect((await deactivate(ada.uuid, undefined, 'MxToken read-only')).status).toBe(403);
    expect((await uuids(['ada@example.com'], 'MxToken write-only')).status).toBe(403);
    expect((await uuids(['ada@example.com'], 'MxToken read-only')).status).toBe(200);
    expect((await deactivate(ada.uuid, undefined, 'MxToken write-only')).status).toBe(204);
  });

  test('refuses to deactivate the admin who owns the PAT (403) and answers an unknown uuid with 404', async () => {
    const { deactivate } = await setUp();
    expect((await deactivate(SIMULATOR_CREDENTIALS.mendix.adminUuid)).status).toBe(403);
    expect((await deactivate('9a0c7a3e-1111-4d4d-8e8e-000000000000')).status).toBe(404);
  });

  test('POST /v1/uuids lists found identifiers and the emails it could not find', async () => {
    const { simulator, uuids } = await setUp();
    const ada = simulator.seedUser({ email: 'ada@example.com' });

    const response = await uuids(['Ada@Example.com', 'ghost@example.com']);
    expect(await response.json()).toEqual({
      identifiers: [{ emailAddress: 'Ada@Example.com', uuid: ada.uuid }],
      error: { emailAddresses: ['ghost@example.com'] },
    });
    expect(await (await uuids(['ada@example.com'])).json()).toEqual({ identifiers: [{ emailAddress: 'ada@example.com', uuid: ada.uuid }] });
  });

  test('over its rate limit answers 429 {"message":"API rate limit exceeded"}', async () => {
    const { uuids } = await setUp({ mendix: { rateLimit: { limit: 2, windowMs: 60_000 } } });
    await uuids(['a@example.com']);
    await uuids(['a@example.com']);

    const limited = await uuids(['a@example.com']);
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ message: 'API rate limit exceeded' });
  });
});
