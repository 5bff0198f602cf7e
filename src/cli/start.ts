// `npm start` / `jml start`: brings jml up on whatever is configured, embedded defaults otherwise.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ConfigError, dataDir, type Environment } from '../config.js';
import { createConnectors, parseConnectorsConfig, type ConnectorsConfig } from '../connectors/config.js';
import type { Connector, SystemName } from '../connectors/types.js';
import { migrateDatabase } from '../db/migrate.js';
import { loadEnvironment } from '../environment.js';
import { applicationDatabaseUrl, resolveDatabase } from '../infra/database.js';
import { obtainTemporalServer } from '../infra/temporal-server.js';
import { logger } from '../logger.js';
import { createSimulators, SIMULATOR_PREFIXES, simulatorConnectorEnvironment } from '../simulators/index.js';
import { checkpointerSetup } from '../audit/checkpoint.js';
import { startSystem } from '../system.js';
import { stopOnSignals } from './shutdown.js';
import { followSupervisor, reportReady, supervise } from './supervisor.js';

export interface StartOptions {
  demo: boolean;
  /** `supervised` (the default): the API and the worker as two processes under one supervisor. */
  role: 'supervised' | 'all' | 'api' | 'worker';
}

/** The database and Temporal server, started once (by the supervisor, or by a lone process). */
async function startInfrastructure(environment: Environment) {
  const tlsSettings = ['TEMPORAL_TLS', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_NAME', 'TEMPORAL_API_KEY'] as const;
  if (!environment.TEMPORAL_ADDRESS && tlsSettings.some((name) => environment[name])) {
    // The local dev server speaks plain gRPC on loopback; these settings describe a remote cluster.
    throw new ConfigError(`${tlsSettings.filter((name) => environment[name]).join(', ')} apply to the cluster in TEMPORAL_ADDRESS: set TEMPORAL_ADDRESS too, or remove them to use the local dev server.`);
  }
  if (!environment.TEMPORAL_ADDRESS && environment.NODE_ENV === 'production') {
    throw new ConfigError('NODE_ENV=production and TEMPORAL_ADDRESS is not set: the Temporal dev server is for trying jml out; set TEMPORAL_ADDRESS to your Temporal cluster.');
  }
  const resolved = await resolveDatabase(environment);
  try {
    // The checkpoint key is made once, before the API process that uses it starts.
    checkpointerSetup(environment, { create: true, logger });
    const applied = await migrateDatabase(resolved.migrateUrl);
    if (applied.length > 0) logger.info({ migrations: applied }, `applied ${applied.length} database migration(s)`);
    // The API and the worker run as the application role, never as the owner that migrated.
    const database = { ...resolved, url: await applicationDatabaseUrl(resolved, environment) };
    const temporal = await obtainTemporalServer({
      port: environment.JML_TEMPORAL_DEV_PORT,
      dbFile: path.join(dataDir(environment), 'temporal.db'),
      uiPort: environment.JML_TEMPORAL_DEV_PORT + 1000,
      namespace: environment.TEMPORAL_NAMESPACE,
    });
    return { database, temporal };
  } catch (error) {
    await resolved.stop();
    throw error;
  }
}

/**
 * Demo mode needs a SCIM token before anyone could have created one: a random one for this run,
 * given to the API process as JML_SCIM_TOKEN, unless the user set one.
 */
function demoToken(demo: boolean): string | undefined {
  if (!demo) return undefined;
  process.env.JML_SCIM_TOKEN ??= `demo-${randomBytes(16).toString('hex')}`;
  return process.env.JML_SCIM_TOKEN;
}

/** One line a person can paste: a joiner, then that person leaving, then the accounts it left behind. */
export function demoLeaverCommand(apiUrl: string, token: string): string {
  const auth = `-H 'Authorization: Bearer ${token}' -H 'Content-Type: application/scim+json'`;
  const user = JSON.stringify({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'demo.leaver',
    externalId: 'demo-leaver-1',
    emails: [{ value: 'demo.leaver@example.com', primary: true }],
    active: true,
  });
  const leave = JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] });
  return [
    `ID=$(curl -s ${auth} -d '${user}' ${apiUrl}/scim/v2/Users | sed -E 's/.*"id":"([^"]+)".*/\\1/')`,
    `curl -s -o /dev/null -w 'leaver PATCH: %{http_code}\\n' -X PATCH ${auth} -d '${leave}' ${apiUrl}/scim/v2/Users/$ID`,
    'sleep 3',
    `for s in rocketchat mendix userapi; do echo "$s: $(curl -s ${apiUrl}/sim/$s/_sim/users)"; done`,
  ].join(' && ');
}

function banner(options: { role: string; demo: boolean; token?: string; apiUrl?: string; workerUrl?: string; database: string; temporal: string; systems: string[]; ownUrl: string }) {
  return [
    '',
    `jml is running (${options.role}${options.demo ? ', demo mode' : ''})`,
    `  SCIM:        ${options.apiUrl ? `${options.apiUrl}/scim/v2` : '(api role not running)'}`,
    ...(options.workerUrl ? [`  worker:      health ${options.workerUrl}/health (a process of its own)`] : []),
    `  token:       npx jml tokens create --name <client>   (prints a bearer token once)`,
    `  database:    ${options.database}`,
    `  temporal:    ${options.temporal}`,
    `  downstream:  ${options.systems.length > 0 ? options.systems.join(', ') : 'none configured (see README, or run npm start -- --demo)'}`,
    ...(options.demo ? [`  simulators:  ${options.ownUrl}/sim/{rocketchat,mendix,userapi}/_sim/users`] : []),
    ...(options.demo && options.token && options.apiUrl
      ? [`  demo token:  ${options.token}`, '  a leaver, end to end (paste it):', '', demoLeaverCommand(options.apiUrl, options.token)]
      : []),
    '',
  ].join('\n');
}

/** The downstream systems a connector configuration names (its other keys are settings). */
function configuredSystems(config: ConnectorsConfig): string[] {
  return (['rocketchat', 'mendix', 'userapi'] as const).filter((system) => config[system] !== undefined);
}

async function superviseCommand(options: StartOptions): Promise<number> {
  const token = demoToken(options.demo);
  const { environment, raw } = loadEnvironment();
  const { database, temporal } = await startInfrastructure(environment);
  const systems = options.demo ? ['rocketchat', 'mendix', 'userapi'] : configuredSystems(parseConnectorsConfig(raw));
  return supervise({
    env: environment,
    demo: options.demo,
    databaseUrl: database.url,
    temporalAddress: temporal.address,
    fanOutPids: temporal.pid === undefined ? [] : [temporal.pid],
    async stopInfrastructure() {
      await temporal.stop();
      await database.stop();
    },
    onReady: (urls) =>
      process.stdout.write(
        banner({
          role: 'API and worker, two processes',
          demo: options.demo,
          token,
          apiUrl: urls.api,
          workerUrl: urls.worker,
          database: database.description,
          temporal: `${temporal.description}${temporal.uiUrl ? `, web UI ${temporal.uiUrl}` : ''}`,
          systems,
          ownUrl: `http://127.0.0.1:${environment.PORT}`,
        }),
      ),
  });
}

export async function startCommand(options: StartOptions): Promise<number> {
  if (options.role === 'supervised') return superviseCommand(options);
  const token = demoToken(options.demo);
  const { environment, raw } = loadEnvironment();
  // Under the supervisor, the database is migrated and Temporal is up already.
  const supervised = raw.JML_SUPERVISED === '1';
  if (supervised && options.role !== 'all') followSupervisor(options.role);
  const { database, temporal } = supervised
    ? {
        database: { url: environment.DATABASE_URL!, description: 'DATABASE_URL', stop: async () => {} },
        temporal: { address: environment.TEMPORAL_ADDRESS!, description: 'TEMPORAL_ADDRESS', uiUrl: undefined, stop: async () => {} },
      }
    : await startInfrastructure(environment);

  // Demo mode: the simulators run on the API's port and every SCIM user gets accounts in them.
  const simulators = options.demo && options.role !== 'worker' ? createSimulators() : undefined;
  const ownUrl = raw.JML_DEMO_SIMULATORS_URL ?? `http://127.0.0.1:${environment.PORT}`;
  const connectorEnvironment = options.demo
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
    checkpoints: options.role === 'worker' ? undefined : (checkpointerSetup(environment, { create: false, logger }) ?? undefined),
    // The demo's simulators start empty and hold only the accounts jml seeds: a lookup there proves nothing.
    checkLookups: !options.demo,
    mounts: simulators ? [{ path: '/', router: simulators.router }] : [],
    onIdentityWritten: simulators
      ? (identity) => simulators.seedFromIdentity({ userName: identity.userName, email: identity.email, externalId: identity.externalId, id: identity.id })
      : undefined,
  });

  // Before anyone hears that jml is up: a SIGTERM sent the moment the banner or the ready message
  // arrives (a test, the supervisor, an orchestrator) must find the handler installed. Without one
  // Node leaves SIGTERM to its default, and the process dies by the signal instead of draining
  // (test/faults/shutdown-deadline.test.ts, which failed that way on a loaded machine).
  stopOnSignals(
    async () => {
      await system.close();
      await temporal.stop();
      await database.stop();
    },
    { timeoutMs: environment.JML_SHUTDOWN_TIMEOUT_MS, logger },
  );
  if (supervised) reportReady(options.role, system.url);
  else {
    process.stdout.write(
      banner({
        role: options.role,
        demo: options.demo,
        token,
        apiUrl: options.role === 'worker' ? undefined : system.url,
        database: database.description,
        temporal: `${temporal.description}${temporal.uiUrl ? `, web UI ${temporal.uiUrl}` : ''}`,
        systems: Object.keys(connectors),
        ownUrl,
      }),
    );
  }

  // Keep running: main() must not exit the process.
  return -1;
}
