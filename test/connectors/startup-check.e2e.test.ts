// Issue 14: when the worker starts, it tries each configured lookup against a person jml knows and
// warns, once per system, when a lookup finds nobody, naming the setting to change. It must not
// hold up the start nor change anything downstream. Here jml restarts over a database that knows
// lamarr, with two wrong settings: the user API's id read from employeeNumber (it knows her by
// externalId) and Rocket.Chat looked up by email with her userName as the value.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logger } from '../../src/logger.js';
import { startTestSystem, type TestSystem } from '../support/system.js';

let jml: TestSystem;
const warn = vi.spyOn(logger, 'warn');

beforeAll(async () => {
  jml = await startTestSystem({
    connectorEnv: { USERAPI_ID_ATTRIBUTE: 'employeeNumber', ROCKETCHAT_LOOKUP: 'email:userName' },
    beforeStart: async (database, simulators) => {
      const person = { userName: 'lamarr', externalId: 'emp-1914', email: 'lamarr@example.com' };
      await database.db.identity.create({ data: { ...person, employeeNumber: 'E-1914', active: true, resource: {} } });
      simulators.simulators.seedFromIdentity(person);
    },
  });
});

afterAll(async () => {
  warn.mockRestore();
  await jml.close();
});

describe('the connector lookups, tried when the worker starts', () => {
  it('warns once per system that finds nobody, with the setting, while jml serves and nothing downstream changes', async () => {
    // jml serves beside the check, which system.ts starts without awaiting it.
    expect((await jml.scim.get('/ServiceProviderConfig')).status).toBe(200);

    const checks = await jml.system.lookupsChecked!;
    expect(checks.map((check) => [check.system, check.outcome, check.lookup])).toEqual([
      ['rocketchat', 'not_found', 'ROCKETCHAT_LOOKUP=email:userName'],
      ['mendix', 'found', 'MENDIX_EMAIL_ATTRIBUTE=email'],
      ['userapi', 'not_found', 'USERAPI_ID_ATTRIBUTE=employeeNumber'],
    ]);

    const warnings = warn.mock.calls.map((call) => String(call[1])).filter((message) => message.includes('lookup'));
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^rocketchat lookup FINDS NOBODY at start: found NOBODY for lamarr by ROCKETCHAT_LOOKUP=email:userName \(value "lamarr"\).* change it and run `npx jml connectors check --user lamarr`\. Nothing was changed\.$/);
    expect(warnings[1]).toMatch(/^userapi lookup FINDS NOBODY at start: found NOBODY for lamarr by USERAPI_ID_ATTRIBUTE=employeeNumber \(value "E-1914"\)/);

    // Only reads were sent, and lamarr's accounts are as they were.
    const { rocketchat, mendix, userapi } = jml.simulators.simulators;
    expect(rocketchat.calls().map((call) => `${call.method} ${call.path}`)).toEqual(['GET /api/v1/users.info']);
    expect(userapi.calls().map((call) => `${call.method} ${call.path}`)).toEqual(['GET /v1/users/E-1914']);
    expect(mendix.calls().every((call) => call.path.endsWith('/uuids'))).toBe(true);
    expect(rocketchat.users().find((user) => user.username === 'lamarr')?.active).toBe(true);
    expect(userapi.users().find((user) => user.id === 'emp-1914')?.active).toBe(true);
    expect(await jml.database.query('SELECT id FROM lifecycle_event')).toEqual([]);
  });
});
