// `npm start` / `jml start`: brings jml up on whatever is configured, embedded defaults otherwise.
import path from 'node:path';
import { ConfigError, dataDir } from '../config.js';
import { createConnectors, parseConnectorsConfig } from '../connectors/config.js';
import type { Connector, SystemName } from '../connectors/types.js';
import { migrateDatabase } from '../db/migrate.js';
import { loadEnvironment } from '../environment.js';
import { resolveDatabase } from '../infra/database.js';
import { obtainTemporalServer } from '../infra/temporal-server.js';
import { logger } from '../logger.js';
import { createSimulators, SIMULATOR_PREFIXES, simulatorConnectorEnvironment } from '../simulators/index.js';
import { startSystem } from '../system.js';

export interface StartOptions {
  demo: boolean;
  role: 'all' | 'api' | 'worker';
}

export async function startCommand(options: StartOptions): Promise<number> {
  const { environment, raw } = loadEnvironment();
  const tlsSettings = ['TEMPORAL_TLS', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_NAME', 'TEMPORAL_API_KEY'] as const;
  if (!environment.TEMPORAL_ADDRESS && tlsSettings.some((name) => environment[name])) {
    // The local dev server speaks plain gRPC on loopback; these settings describe a remote cluster.
    throw new ConfigError(`${tlsSettings.filter((name) => environment[name]).join(', ')} apply to the cluster in TEMPORAL_ADDRESS: set TEMPORAL_ADDRESS too, or remove them to use the local dev server.`);
  }
  const database = await resolveDatabase(environment);
  await migrateDatabase(database.url);
  const temporal = await obtainTemporalServer({
    port: environment.JML_TEMPORAL_DEV_PORT,
    dbFile: path.join(dataDir(environment), 'temporal.db'),
    uiPort: environment.JML_TEMPORAL_DEV_PORT + 1000,
    namespace: environment.TEMPORAL_NAMESPACE,
  });

  // Demo mode: the simulators run on jml's own port and every SCIM user gets accounts in them.
  const simulators = options.demo ? createSimulators() : undefined;
  const ownUrl = `http://127.0.0.1:${environment.PORT}`;
  const connectorEnvironment = simulators
    ? simulatorConnectorEnvironment({
        rocketchat: `${ownUrl}${SIMULATOR_PREFIXES.rocketchat}`,
        mendix: `${ownUrl}${SIMULATOR_PREFIXES.mendix}`,
        userapi: `${ownUrl}${SIMULATOR_PREFIXES.userapi}`,
      })
    : raw;
  const connectors = createConnectors(parseConnectorsConfig(connectorEnvironment), { logger }) as Partial<Record<SystemName, Connector>>;

  const system = await startSystem({
    env: environment,
    databaseUrl: database.url,
    temporalAddress: temporal.address,
    connectors,
    roles: { api: options.role !== 'worker', worker: options.role !== 'api' },
    mounts: simulators ? [{ path: '/', router: simulators.router }] : [],
    onIdentityWritten: simulators
      ? (identity) => simulators.seedFromIdentity({ userName: identity.userName, email: identity.email, externalId: identity.externalId, id: identity.id })
      : undefined,
  });

  const systems = Object.keys(connectors);
  const lines = [
    '',
    `jml is running (${options.role}${options.demo ? ', demo mode' : ''})`,
    `  SCIM:        ${system.url ?? '(api role not running)'}/scim/v2`,
    `  token:       npx jml tokens create --name <client>   (prints a bearer token once)`,
    `  database:    ${database.description}`,
    `  temporal:    ${temporal.description}${temporal.uiUrl ? `, web UI ${temporal.uiUrl}` : ''}`,
    `  downstream:  ${systems.length > 0 ? systems.join(', ') : 'none configured (see README, or run npm start -- --demo)'}`,
    ...(simulators ? [`  simulators:  ${ownUrl}/sim/{rocketchat,mendix,userapi}/_sim/users`] : []),
    '',
  ];
  process.stdout.write(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await system.close();
    await temporal.stop();
    await database.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // Keep running: main() must not exit the process.
  return -1;
}
