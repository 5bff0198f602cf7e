import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  ConnectorConfigError,
  createConnectors,
  identityAttributeReader,
  parseConnectorsConfig,
  type IdentityAttribute,
} from '../../src/connectors/config.js';
import type { Connector } from '../../src/connectors/types.js';
import { simulatorConnectorEnvironment } from '../../src/simulators/index.js';
import { identity, simulatorServers } from '../simulators/harness.js';

function configError(env: Record<string, string>): ConnectorConfigError {
  try {
    parseConnectorsConfig(env);
  } catch (error) {
    if (error instanceof ConnectorConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConnectorConfigError');
}

// Secrets written for these tests live in one folder that is removed at the end.
const secrets = mkdtempSync(path.join(tmpdir(), 'jml-connector-config-'));
let secretCount = 0;
afterAll(() => rmSync(secrets, { recursive: true, force: true }));

function secretFile(contents: string): string {
  const file = path.join(secrets, `secret-${++secretCount}`);
  writeFileSync(file, contents, { mode: 0o600 });
  return file;
}

const ROCKETCHAT = { ROCKETCHAT_URL: 'https://chat.example.com', ROCKETCHAT_USER_ID: 'rbAXPnMktTFbNpwtJ' };

describe('connector configuration', () => {
  test('no base URL set: no connector, and nothing else is required', () => {
    expect(createConnectors(parseConnectorsConfig({}))).toEqual({});
  });

  test('a system is enabled by its base URL, with its defaults', () => {
    const config = parseConnectorsConfig({
      ...ROCKETCHAT,
      ROCKETCHAT_AUTH_TOKEN: 'rc-token',
      MENDIX_URL: 'https://user-management-api.mendix.com',
      MENDIX_PAT: 'mx-pat',
    });

    expect(config.timeoutMs).toBe(10_000);
    expect(config.rocketchat).toMatchObject({
      baseUrl: 'https://chat.example.com',
      confirmRelinquish: true,
      lookup: { key: 'username', attribute: { source: 'snapshot', name: 'userName' } },
    });
    // Without a separate host or PAT, the identifier API uses the deactivation API's.
    expect(config.mendix).toMatchObject({
      identifierBaseUrl: 'https://user-management-api.mendix.com',
      identifierPat: 'mx-pat',
      emailAttribute: { source: 'snapshot', name: 'email' },
    });
    expect(config.userapi).toBeUndefined();
    expect(Object.keys(createConnectors(config)).sort()).toEqual(['mendix', 'rocketchat']);
  });

  test('credentials can come from <NAME>_FILE, trimmed', () => {
    const config = parseConnectorsConfig({ ...ROCKETCHAT, ROCKETCHAT_AUTH_TOKEN_FILE: secretFile('  from-a-file\n') });
    expect(config.rocketchat?.authToken).toBe('from-a-file');
  });

  test('a missing credential names the variable and its _FILE form', () => {
    const error = configError({ ...ROCKETCHAT, USERAPI_URL: 'https://api.example.com', USERAPI_API_KEY: 'key' });
    expect(error.name).toBe('ConnectorConfigError');
    expect(error.message).toContain('ROCKETCHAT_AUTH_TOKEN: is required when ROCKETCHAT_URL is set: set ROCKETCHAT_AUTH_TOKEN (or ROCKETCHAT_AUTH_TOKEN_FILE)');
    expect(error.message).toContain('USERAPI_TOKEN: is required when USERAPI_URL is set');
  });

  test('errors say what to fix and never repeat a secret', () => {
    const secret = 'sk-live-do-not-print-me';
    const error = configError({
      ...ROCKETCHAT,
      ROCKETCHAT_AUTH_TOKEN: secret,
      ROCKETCHAT_AUTH_TOKEN_FILE: secretFile(secret),
      ROCKETCHAT_CONFIRM_RELINQUISH: secret,
      ROCKETCHAT_LOOKUP: secret,
      USERAPI_URL: secret,
      USERAPI_API_KEY: secret,
      USERAPI_TOKEN_FILE: '/nonexistent/jml-userapi-token',
      USERAPI_ID_ATTRIBUTE: 'not a path',
    });

    expect(error.message).toContain('ROCKETCHAT_AUTH_TOKEN: both ROCKETCHAT_AUTH_TOKEN and ROCKETCHAT_AUTH_TOKEN_FILE are set: keep one');
    expect(error.message).toContain('USERAPI_TOKEN_FILE: /nonexistent/jml-userapi-token cannot be read (ENOENT)');
    expect(error.message).toContain('ROCKETCHAT_CONFIRM_RELINQUISH: must be true or false');
    expect(error.message).toContain('ROCKETCHAT_LOOKUP: must be <username|email|userId>:<identity attribute>');
    expect(error.message).toContain('USERAPI_URL: must be an http(s) URL');
    expect(error.message).toContain('USERAPI_ID_ATTRIBUTE: must be one of userName, email, externalId, employeeNumber, id or a SCIM attribute path');
    expect(error.message).not.toContain(secret);
  });

  test('empty variables count as unset', () => {
    expect(parseConnectorsConfig({ ROCKETCHAT_URL: '', MENDIX_URL: ' ' })).toEqual({ timeoutMs: 10_000 });
  });

  test('ROCKETCHAT_CONFIRM_RELINQUISH=false and other lookups are read', () => {
    const config = parseConnectorsConfig({
      ...ROCKETCHAT,
      ROCKETCHAT_AUTH_TOKEN: 't',
      ROCKETCHAT_CONFIRM_RELINQUISH: 'false',
      ROCKETCHAT_LOOKUP: 'email:urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value',
      JML_CONNECTOR_TIMEOUT_MS: '2500',
    });
    expect(config.timeoutMs).toBe(2_500);
    expect(config.rocketchat?.confirmRelinquish).toBe(false);
    expect(config.rocketchat?.lookup).toEqual({
      key: 'email',
      attribute: { source: 'resource', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value' },
    });
  });
});

describe('identity attributes', () => {
  const person = identity({
    employeeNumber: '701984',
    resource: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'ada.lovelace',
      name: { givenName: 'Ada', familyName: 'Lovelace' },
      emails: [
        { value: 'ada@home.example', type: 'home' },
        { value: 'ada.lovelace@example.com', type: 'work', primary: true },
      ],
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { employeeNumber: 'ENT-42', costCenter: 4130 },
    },
  });
  const read = (attribute: IdentityAttribute) => identityAttributeReader(attribute)(person);

  test.each([
    ['employeeNumber', '701984'],
    ['name.givenName', 'Ada'],
    ['emails.value', 'ada.lovelace@example.com'],
    ['emails[type eq "home"].value', 'ada@home.example'],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', 'ENT-42'],
    ['urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter', '4130'],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName', 'ada.lovelace'],
    ['NAME.FAMILYNAME', 'Lovelace'],
    ['nickName', null],
  ])('%s reads %s', (spec, expected) => {
    const config = parseConnectorsConfig({ USERAPI_URL: 'https://api.example.com', USERAPI_API_KEY: 'k', USERAPI_TOKEN: 't', USERAPI_ID_ATTRIBUTE: spec });
    expect(read(config.userapi!.idAttribute)).toBe(expected);
  });
});

describe('connectors built from the simulators environment', () => {
  const startServer = simulatorServers();

  test('resolve and deactivate one person in all three systems', async () => {
    const { server } = await startServer({ rocketchat: { rateLimit: false } });
    const accounts = server.simulators.seedFromIdentity({ userName: 'ada.lovelace', email: 'ada.lovelace@example.com', externalId: '1815' });
    const connectors = createConnectors(
      parseConnectorsConfig({ ...simulatorConnectorEnvironment(server.urls), USERAPI_ID_ATTRIBUTE: 'employeeNumber' }),
    );
    const person = identity({ externalId: 'unused', employeeNumber: '1815' });

    const all: Connector[] = [connectors.rocketchat!, connectors.mendix!, connectors.userapi!];
    for (const connector of all) {
      const accountId = await connector.resolveAccount(person);
      expect(accountId).not.toBeNull();
      await connector.deactivate(accountId!, { idempotencyKey: `jml-event-9-${connector.system}-deactivate` });
    }

    expect(server.simulators.rocketchat.users()).toMatchObject([{ _id: accounts.rocketchat._id, active: false }]);
    expect(server.simulators.mendix.users()).toMatchObject([{ uuid: accounts.mendix?.uuid, active: false }]);
    expect(server.simulators.userapi.users()).toEqual([{ id: '1815', active: false }]);
  });
});
