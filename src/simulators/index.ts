// The three downstream simulators behind one express Router (tests, the demo mode, benchmarks),
// and a server that serves them on a port of its own.
import type { AddressInfo } from 'node:net';
import express, { type Router } from 'express';
import {
  createMendixSimulator,
  MENDIX_SIMULATOR_CREDENTIALS,
  type MendixSimulator,
  type MendixSimulatorOptions,
  type MendixUser,
} from './mendix.js';
import {
  createRocketChatSimulator,
  ROCKETCHAT_SIMULATOR_CREDENTIALS,
  type RocketChatSimulator,
  type RocketChatSimulatorOptions,
  type RocketChatUser,
} from './rocketchat.js';
import type { CommonSimulatorOptions } from './simulator.js';
import {
  createUserApiSimulator,
  USERAPI_SIMULATOR_CREDENTIALS,
  type UserApiSimulator,
  type UserApiSimulatorOptions,
  type UserApiUser,
} from './userapi.js';

export type { RecordedCall } from './call-log.js';
export type { Clock } from './clock.js';
export type { FaultSettings } from './faults.js';
export type { RateWindow } from './rate-limit.js';
export * from './mendix.js';
export * from './rocketchat.js';
export * from './userapi.js';

export const SIMULATOR_PREFIXES = {
  rocketchat: '/sim/rocketchat',
  mendix: '/sim/mendix',
  userapi: '/sim/userapi',
} as const;

/** The credentials the simulators accept unless told otherwise; point connectors at them. */
export const SIMULATOR_CREDENTIALS = {
  rocketchat: ROCKETCHAT_SIMULATOR_CREDENTIALS,
  mendix: MENDIX_SIMULATOR_CREDENTIALS,
  userapi: USERAPI_SIMULATOR_CREDENTIALS,
} as const;

/** `now`, `random` and `bodyLimit` apply to all three unless a system's own options say otherwise. */
export interface SimulatorsOptions extends CommonSimulatorOptions {
  rocketchat?: RocketChatSimulatorOptions;
  mendix?: MendixSimulatorOptions;
  userapi?: UserApiSimulatorOptions;
}

/** The parts of a person the demo mode seeds accounts from (a SCIM user's attributes). */
export interface SeedIdentity {
  userName: string;
  email?: string | null;
  externalId?: string | null;
  id?: string | null;
}

export interface SeededAccounts {
  rocketchat: RocketChatUser;
  /** Null when the identity has no email: Mendix finds accounts by email only. */
  mendix: MendixUser | null;
  /** Null when the identity has neither externalId nor id. */
  userapi: UserApiUser | null;
}

export interface Simulators {
  router: Router;
  rocketchat: RocketChatSimulator;
  mendix: MendixSimulator;
  userapi: UserApiSimulator;
  /** Finds or creates the person's account in all three systems (active when created). */
  seedFromIdentity(identity: SeedIdentity): SeededAccounts;
  reset(): void;
}

export function createSimulators(options: SimulatorsOptions = {}): Simulators {
  const { rocketchat: rocketchatOptions, mendix: mendixOptions, userapi: userapiOptions, ...common } = options;
  const rocketchat = createRocketChatSimulator({ ...common, ...rocketchatOptions });
  const mendix = createMendixSimulator({ ...common, ...mendixOptions });
  const userapi = createUserApiSimulator({ ...common, ...userapiOptions });

  const router = express.Router();
  router.use(SIMULATOR_PREFIXES.rocketchat, rocketchat.router);
  router.use(SIMULATOR_PREFIXES.mendix, mendix.router);
  router.use(SIMULATOR_PREFIXES.userapi, userapi.router);

  function seedFromIdentity(identity: SeedIdentity): SeededAccounts {
    const email = identity.email ?? undefined;
    const userapiId = identity.externalId ?? identity.id ?? undefined;
    const existingMendix = email ? mendix.users().find((user) => user.email.toLowerCase() === email.toLowerCase()) : undefined;
    return {
      rocketchat:
        rocketchat.users().find((user) => user.username === identity.userName) ??
        rocketchat.seedUser({ username: identity.userName, ...(email ? { email } : {}) }),
      mendix: email ? (existingMendix ?? mendix.seedUser({ email })) : null,
      userapi: userapiId
        ? (userapi.users().find((user) => user.id === userapiId) ?? userapi.seedUser({ id: userapiId, owner: [identity.userName, email].filter(Boolean).join(' / ') }))
        : null,
    };
  }

  return {
    router,
    rocketchat,
    mendix,
    userapi,
    seedFromIdentity,
    reset: () => {
      rocketchat.reset();
      mendix.reset();
      userapi.reset();
    },
  };
}

export interface SimulatorServerOptions extends SimulatorsOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
}

export interface SimulatorServer {
  baseUrl: string;
  urls: Record<keyof typeof SIMULATOR_PREFIXES, string>;
  simulators: Simulators;
  close(): Promise<void>;
}

export async function startSimulatorServer(options: SimulatorServerOptions = {}): Promise<SimulatorServer> {
  const { port = 0, host = '127.0.0.1', ...simulatorOptions } = options;
  const simulators = createSimulators(simulatorOptions);
  const app = express();
  app.disable('x-powered-by');
  app.use(simulators.router);
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve, reject) => {
    const listening = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const { port: boundPort } = server.address() as AddressInfo;
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  return {
    baseUrl,
    urls: {
      rocketchat: `${baseUrl}${SIMULATOR_PREFIXES.rocketchat}`,
      mendix: `${baseUrl}${SIMULATOR_PREFIXES.mendix}`,
      userapi: `${baseUrl}${SIMULATOR_PREFIXES.userapi}`,
    },
    simulators,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive connections from fetch would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

/**
 * The connector settings (see src/connectors/config.ts) that point jml at simulators served at
 * `urls` with their default credentials: what the demo mode and tests feed to the config loader.
 */
export function simulatorConnectorEnvironment(urls: SimulatorServer['urls']): Record<string, string> {
  return {
    ROCKETCHAT_URL: urls.rocketchat,
    ROCKETCHAT_USER_ID: SIMULATOR_CREDENTIALS.rocketchat.userId,
    ROCKETCHAT_AUTH_TOKEN: SIMULATOR_CREDENTIALS.rocketchat.authToken,
    MENDIX_URL: urls.mendix,
    MENDIX_IDENTIFIER_URL: urls.mendix,
    MENDIX_PAT: SIMULATOR_CREDENTIALS.mendix.pat,
    USERAPI_URL: urls.userapi,
    USERAPI_API_KEY: SIMULATOR_CREDENTIALS.userapi.apiKey,
    USERAPI_TOKEN: SIMULATOR_CREDENTIALS.userapi.authToken,
  };
}
