// The whole of jml for an integration test: its own database (a clone of the migrated template),
// its own task queues on the run's real Temporal server, and simulators of the three downstream
// systems on a free port.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { lifecycleWorkflow, TargetOutcome } from '../../workflows/lifecycle.js';
import { inject } from 'vitest';
import { createToken } from '../../src/auth/tokens.js';
import { parseEnvironment } from '../../src/config.js';
import { createConnectors, parseConnectorsConfig } from '../../src/connectors/config.js';
import type { Connector, SystemName } from '../../src/connectors/types.js';
import { simulatorConnectorEnvironment, startSimulatorServer, type SimulatorServerOptions, type SimulatorServer } from '../../src/simulators/index.js';
import { startSystem, type RunningSystem, type SystemOptions } from '../../src/system.js';
import { createApplicationLogin } from './application-role.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { recordHistories, recordHistoriesTo } from './histories.js';
import { CORE_USER, scimClient } from './scim-client.js';

export interface TestSystem {
  /** The workflow's result, once the outbox relay has started it (it starts just after the 2xx). */
  resultOf(workflowId: string): Promise<TargetOutcome[]>;
  system: RunningSystem;
  database: TestDatabase;
  simulators: SimulatorServer;
  scim: ReturnType<typeof scimClient>;
  taskQueue: string;
  connectors: Partial<Record<SystemName, Connector>>;
  close(): Promise<void>;
}

export interface TestSystemOptions {
  /** Extra environment for jml (e.g. JML_RETRY_DEADLINE_MS). */
  env?: Record<string, string>;
  simulators?: SimulatorServerOptions;
  roles?: { api: boolean; worker: boolean };
  /** Connector settings on top of the simulators' URLs and credentials (e.g. USERAPI_ID_ATTRIBUTE). */
  connectorEnv?: Record<string, string>;
  /** Run jml as a login role in jml_application, as production does, instead of as the owner. */
  applicationRole?: boolean;
  /** Signed checkpoints (and evidence bundles) on, with this key and directory. */
  checkpoints?: SystemOptions['checkpoints'];
  /** Runs on the new database and simulators before jml starts (what a restart finds). */
  beforeStart?: (database: TestDatabase, simulators: SimulatorServer) => Promise<void>;
}

export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const database = await createTestDatabase();
  const login = options.applicationRole ? await createApplicationLogin(database) : undefined;
  // The vendor's own rate limiter is off unless a test turns it on: tests share one simulator.
  const simulators = await startSimulatorServer({ rocketchat: { rateLimit: false }, ...options.simulators });
  const taskQueue = `test-${randomBytes(4).toString('hex')}`;
  const env = parseEnvironment({
    PORT: '0',
    HOST: '127.0.0.1',
    TEMPORAL_TASK_QUEUE: taskQueue,
    JML_OUTBOX_POLL_MS: '250',
    JML_RATE_LIMIT_ROCKETCHAT: '0',
    JML_RATE_LIMIT_MENDIX: '0',
    JML_RATE_LIMIT_USERAPI: '0',
    // A reconciliation firing mid-test would add listing calls to the simulators' logs.
    JML_RECONCILE_INTERVAL: 'off',
    ...options.env,
  });
  await options.beforeStart?.(database, simulators);
  const connectors = createConnectors(parseConnectorsConfig({ ...simulatorConnectorEnvironment(simulators.urls), ...options.connectorEnv })) as Partial<
    Record<SystemName, Connector>
  >;
  const system = await startSystem({
    env,
    databaseUrl: login?.url ?? database.url,
    temporalAddress: inject('temporalAddress'),
    connectors,
    workflowBundle: inject('workflowBundle'),
    roles: options.roles,
    // Test systems run as the owner unless asked otherwise; the warning would only be noise.
    checkDatabaseRole: options.applicationRole === true,
    checkpoints: options.checkpoints,
  });
  const { token } = await createToken(system.db, { name: 'okta-test', kind: 'scim' });
  async function resultOf(workflowId: string): Promise<TargetOutcome[]> {
    for (let waited = 0; ; waited += 50) {
      try {
        return await system.client.workflow.getHandle<typeof lifecycleWorkflow>(workflowId).result();
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError) || waited > 10_000) throw error;
        await sleep(50);
      }
    }
  }
  return {
    resultOf,
    system,
    database,
    simulators,
    scim: scimClient(`${system.url}/scim/v2`, token),
    taskQueue,
    connectors,
    async close() {
      const historiesTo = recordHistoriesTo();
      if (historiesTo) await recordHistories(system.client, taskQueue, historiesTo);
      await system.close();
      await simulators.close();
      await database.drop();
      await login?.drop();
    },
  };
}

const ENTERPRISE_USER = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const JML_LIFECYCLE = 'urn:ietf:params:scim:schemas:extension:jml:2.0:User';

/**
 * A person with accounts in all three simulated systems, provisioned over SCIM as `<prefix><n>`
 * (`extra` is merged into the SCIM body). Throws unless jml answered 201.
 */
export async function provisionPerson(jml: TestSystem, prefix: string, n: number, extra: Record<string, unknown> = {}) {
  const userName = `${prefix}${n}`;
  const email = `${prefix}${n}@example.com`;
  const externalId = `emp-${prefix}${n}`;
  jml.simulators.simulators.seedFromIdentity({ userName, email, externalId });
  const created = await jml.scim.post('/Users', {
    schemas: [CORE_USER, ENTERPRISE_USER, JML_LIFECYCLE],
    userName,
    externalId,
    emails: [{ value: email, type: 'work', primary: true }],
    [ENTERPRISE_USER]: { department: 'Engineering' },
    ...extra,
  });
  if (created.status !== 201) throw new Error(`provisioning ${userName} answered ${created.status}: ${JSON.stringify(created.body)}`);
  return { id: created.body.id, userName, email, externalId };
}

/** Reads until `done` holds or `limitMs` passes, then returns the last read for the test to assert on. */
export async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, limitMs = 20_000, pollMs = 100): Promise<T> {
  for (let waited = 0; waited < limitMs; waited += pollMs) {
    const value = await read();
    if (done(value)) return value;
    await sleep(pollMs);
  }
  return read();
}
