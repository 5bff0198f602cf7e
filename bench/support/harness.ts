// What every benchmark script does around its measurement: parse options, start PostgreSQL and
// Temporal, start the children it needs, and remove everything again, on success, failure or ^C.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { TemporalServer } from '../../src/infra/temporal-server.js';
import { workerProcessEnvironment } from '../../src/temporal/worker-sizing.js';
import { startChild, type ChildHandle } from './child.js';
import { createBenchDatabase, obtainBenchTemporal, type BenchDatabase } from './infra.js';
import type { JmlProcessApi, JmlStartInput } from './jml-process.js';
import { describeMachine } from './machine.js';
import type { SimulatorsProcessApi, SimulatorsStartInput } from './simulators-process.js';

export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Parses `--name value` options with a zod object schema; prints the problems and exits 2 on bad input. */
export function parseOptions<S extends z.ZodType<Record<string, unknown>>>(schema: S, names: readonly string[], argv = process.argv.slice(2)): z.infer<S> {
  const { values } = parseArgs({ args: argv, options: Object.fromEntries(names.map((name) => [name, { type: 'string' }])) });
  const result = schema.safeParse(values);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => `  ${issue.path.length > 0 ? `--${issue.path.join('.')}: ` : ''}${issue.message}`);
    process.stderr.write(`Invalid options:\n${lines.join('\n')}\n`);
    process.exit(2);
  }
  return result.data;
}

export const countOption = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);

export interface Harness {
  database: BenchDatabase;
  temporal: TemporalServer;
  /** Runs `cleanup` when the benchmark ends, in reverse order of registration. */
  onCleanUp(cleanup: () => Promise<void>): void;
  startSimulators(input?: SimulatorsStartInput): Promise<{ child: ChildHandle<SimulatorsProcessApi>; urls: Awaited<ReturnType<SimulatorsProcessApi['start']>> }>;
  startJml(input: Omit<JmlStartInput, 'databaseUrl' | 'temporalAddress'>): Promise<{ child: ChildHandle<JmlProcessApi>; url: string; token: string; operatorToken: string }>;
  /** The lines every report starts with: machine, PostgreSQL, Temporal. */
  context(): string[];
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export async function runBenchmark(name: string, body: (harness: Harness) => Promise<string>): Promise<void> {
  const started = Date.now();
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => log(`clean-up step failed: ${(error as Error).message}`));
    }
  };
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => void cleanUp().finally(() => process.exit(code)));
  }
  try {
    log(`${name}: starting PostgreSQL (benchmark database) and Temporal`);
    // Both start at once; whichever started is cleaned up even if the other failed.
    const [databaseStart, temporalStart] = await Promise.allSettled([
      createBenchDatabase().then((database) => (cleanups.push(() => database.drop()), database)),
      obtainBenchTemporal().then((temporal) => (cleanups.push(() => temporal.stop()), temporal)),
    ]);
    if (databaseStart.status === 'rejected') throw databaseStart.reason;
    if (temporalStart.status === 'rejected') throw temporalStart.reason;
    const database = databaseStart.value;
    const temporal = temporalStart.value;
    const harness: Harness = {
      database,
      temporal,
      onCleanUp: (cleanup) => void cleanups.push(cleanup),
      async startSimulators(input) {
        const child = startChild<SimulatorsProcessApi>(here('./simulators-process.ts'));
        cleanups.push(() => child.stop());
        return { child, urls: await child.call('start', input ?? {}) };
      },
      async startJml(input) {
        // Detached as the supervisor of `npm start` forks its children (src/cli/supervisor.ts).
        const worker = input.role === 'worker' ? workerProcessEnvironment(process.env) : {};
        const child = startChild<JmlProcessApi>(here('./jml-process.ts'), { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...worker }, { detached: true });
        cleanups.push(() => child.stop());
        const target = await child.call('start', { ...input, databaseUrl: database.url, temporalAddress: temporal.address });
        return { child, ...target };
      },
      context: () => [
        `machine:     ${describeMachine()}`,
        `PostgreSQL:  ${database.version} (${database.description})`,
        `Temporal:    ${temporal.description}`,
      ],
    };
    process.stdout.write(await body(harness));
    log(`${name}: done in ${((Date.now() - started) / 1000).toFixed(0)} s; cleaning up`);
  } finally {
    await cleanUp();
  }
}
