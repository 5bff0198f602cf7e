// jml for the benchmarks, in a child process of its own: the system as `npm start` assembles it
// (SCIM API and outbox relay, Temporal workers, or both), pointed at downstream simulators that
// another child serves. Rate limits, the SCIM limit and the mass-deprovision guard are off unless
// a benchmark turns them on through `env`.
import v8 from 'node:v8';
import SCIMMY from 'scimmy';
import { createToken } from '../../src/auth/tokens.js';
import { lowerCpuPriority } from '../../src/cli/supervisor.js';
import { parseEnvironment } from '../../src/config.js';
import { createConnectors, parseConnectorsConfig } from '../../src/connectors/config.js';
import type { Connector, SystemName } from '../../src/connectors/types.js';
import type { Prisma } from '../../src/db/client.js';
import { columnsFromScim } from '../../src/scim/user-mapping.js';
import { simulatorConnectorEnvironment, type SimulatorServer } from '../../src/simulators/index.js';
import { startSystem, type RunningSystem } from '../../src/system.js';
import { serveParent } from './child.js';
import { ownNice } from './machine.js';
import { benchUser, type SeededUser } from './users.js';

export interface JmlStartInput {
  databaseUrl: string;
  temporalAddress: string;
  taskQueue: string;
  simulatorUrls: SimulatorServer['urls'];
  /** Both by default, as `npm start`; `api` or `worker` as the two docker-compose services. */
  role?: 'both' | 'api' | 'worker';
  /** jml's own settings on top of the benchmark defaults, e.g. JML_RATE_LIMIT_USERAPI. */
  env?: Record<string, string>;
}

export type JmlProcessApi = {
  /** url and tokens are empty for the worker role, which serves only /health. */
  start: (input: JmlStartInput) => Promise<{ url: string; token: string; operatorToken: string }>;
  seed: (input: { set: string; count: number; returnFirst: number }) => Promise<SeededUser[]>;
  /** This process's nice value as the scheduler sees it (its autogroup's where there is one). */
  nice: () => number;
  /** Where this process's memory is (the main thread's V8 heap, what V8 holds outside it, RSS), in MiB. */
  memory: () => Record<string, number>;
};

const SEED_BATCH = 1000;
let system: RunningSystem | undefined;

const api: JmlProcessApi = {
  async start(input) {
    const role = input.role ?? 'both';
    const env = parseEnvironment({
      PORT: '0',
      HOST: '127.0.0.1',
      TEMPORAL_TASK_QUEUE: input.taskQueue,
      JML_RATE_LIMIT_ROCKETCHAT: '0',
      JML_RATE_LIMIT_MENDIX: '0',
      JML_RATE_LIMIT_USERAPI: '0',
      // The per-client SCIM limit would cap the very throughput being measured.
      JML_SCIM_RATE_LIMIT: '0',
      // A burst of a thousand leavers is exactly what the mass-deprovision guard holds for an
      // operator; benchmarks that do not measure the guard measure how fast leavers run without it.
      JML_GUARD_ENABLED: 'false',
      LOG_LEVEL: process.env.LOG_LEVEL,
      // The worker's priority below the API's, as `npm start` sets it (default 10; JML_WORKER_NICE=0: equal).
      JML_WORKER_NICE: process.env.JML_WORKER_NICE,
      ...input.env,
    });
    const connectors = createConnectors(parseConnectorsConfig(simulatorConnectorEnvironment(input.simulatorUrls))) as Partial<Record<SystemName, Connector>>;
    system = await startSystem({
      env,
      databaseUrl: input.databaseUrl,
      temporalAddress: input.temporalAddress,
      connectors,
      roles: { api: role !== 'worker', worker: role !== 'api' },
    });
    // This process runs in a session of its own (the harness forks it detached), as the
    // supervisor's children do; the worker, once it serves, lowers itself as the supervisor would.
    if (role === 'worker') lowerCpuPriority(process.pid, env.JML_WORKER_NICE);
    if (role === 'worker') return { url: '', token: '', operatorToken: '' };
    const { token } = await createToken(system.db, { name: 'bench', kind: 'scim' });
    const { token: operatorToken } = await createToken(system.db, { name: 'bench-operator', kind: 'operator' });
    return { url: system.url!, token, operatorToken };
  },

  nice: ownNice,

  memory() {
    const usage = process.memoryUsage();
    const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);
    return { rss: mib(usage.rss), heapTotal: mib(usage.heapTotal), heapUsed: mib(usage.heapUsed), external: mib(usage.external), arrayBuffers: mib(usage.arrayBuffers), heapLimit: mib(v8.getHeapStatistics().heap_size_limit) };
  },

  /**
   * Inserts the population straight into the identity table through Prisma, with the resource
   * scimmy would have stored (startSystem has declared the User schema with its extension). No
   * lifecycle events or audit rows: seeding is set-up, not provisioning.
   */
  async seed({ set, count, returnFirst }) {
    const db = system!.db;
    const seeded: SeededUser[] = [];
    for (let start = 0; start < count; start += SEED_BATCH) {
      const rows: Prisma.IdentityCreateManyInput[] = [];
      for (let index = start; index < Math.min(count, start + SEED_BATCH); index++) {
        const resource = JSON.parse(JSON.stringify(new SCIMMY.Schemas.User(benchUser(set, index), 'in'))) as Record<string, unknown>;
        rows.push({ ...columnsFromScim(resource), resource: resource as Prisma.InputJsonValue });
      }
      const created = await db.identity.createManyAndReturn({ data: rows, select: { id: true, userName: true, email: true, externalId: true } });
      const byUserName = new Map(created.map((row) => [row.userName, row]));
      for (const row of rows) {
        if (seeded.length >= returnFirst) break;
        seeded.push(byUserName.get(row.userName)!);
      }
    }
    await db.$executeRawUnsafe('ANALYZE identity');
    return seeded;
  },
};

serveParent(api, async () => system?.close());
