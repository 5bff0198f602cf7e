// jml's HTTP app over a test database, without Temporal: for SCIM protocol tests.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app.js';
import { createAccessTokenService, type AccessTokenService } from '../../src/auth/access-tokens.js';
import { AuthFailureGuard } from '../../src/auth/failures.js';
import { createToken, createTokenVerifier } from '../../src/auth/tokens.js';
import type { Database } from '../../src/db/client.js';
import { logger } from '../../src/logger.js';
import type { ClientProfile } from '../../src/scim/dialect/index.js';
import type { ScimRouterOptions } from '../../src/scim/router.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { scimClient } from './scim-client.js';

export interface ScimApp {
  baseUrl: string;
  database: TestDatabase;
  scim: ReturnType<typeof scimClient>;
  /** A client with its own token of that profile. */
  clientFor(profile: ClientProfile): Promise<ReturnType<typeof scimClient>>;
  /** How many times the outbox relay was kicked. */
  kicks: () => number;
  /** Failed authentications, tallied until flush() writes them. */
  authFailures: AuthFailureGuard;
  close(): Promise<void>;
}

export async function listen(app: ReturnType<typeof createApp>): Promise<{ server: Server; baseUrl: string }> {
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return { server, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export function scimOptions(db: Database, overrides: Partial<ScimRouterOptions> = {}): ScimRouterOptions {
  return {
    db,
    verifyToken: createTokenVerifier({ db }),
    authFailures: new AuthFailureGuard({ db, logger }),
    maxBodyBytes: 64 * 1024,
    logger,
    lifecycle: { systems: ['rocketchat', 'mendix', 'userapi'], queuePrefix: 'test', retryDeadlineMs: 60_000 },
    onOutboxWritten: () => {},
    ...overrides,
  };
}

export async function startScimApp(overrides: Partial<ScimRouterOptions> = {}): Promise<ScimApp> {
  const database = await createTestDatabase();
  let kicks = 0;
  const accessTokens: AccessTokenService = overrides.accessTokens ?? createAccessTokenService({ db: database.db });
  const authFailures = overrides.authFailures ?? new AuthFailureGuard({ db: database.db, logger });
  const app = createApp({
    db: database.db,
    oauth: { db: database.db, logger, accessTokens, authFailures },
    scim: scimOptions(database.db, { onOutboxWritten: () => kicks++, accessTokens, authFailures, ...overrides }),
  });
  const { server, baseUrl } = await listen(app);
  const { token } = await createToken(database.db, { name: 'idp-test', kind: 'scim' });
  return {
    baseUrl,
    database,
    scim: scimClient(`${baseUrl}/scim/v2`, token),
    authFailures,
    kicks: () => kicks,
    async clientFor(profile) {
      const created = await createToken(database.db, { name: `${profile}-test`, kind: 'scim', profile });
      return scimClient(`${baseUrl}/scim/v2`, created.token);
    },
    async close() {
      await new Promise((resolve) => server.close(resolve));
      await database.drop();
    },
  };
}
