// Gets a Temporal server to talk to, in the documented order (docs/decisions/001-temporal-server.md):
// TEMPORAL_ADDRESS, then a local dev server from the CLI on PATH / TEMPORAL_CLI_PATH / built with
// Go, then the SDK's own download of the dev server (machines with internet only).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { buildTemporalCli, locateTemporal } from '../../scripts/temporal-cli.js';
import { logger } from '../logger.js';
import { spawnTethered } from './tethered-process.js';

export interface TemporalServer {
  address: string;
  /** Where the server came from, for the start-up banner. */
  description: string;
  /** The Web UI, when this process started a dev server with one. */
  uiUrl?: string;
  /** The dev server's process, when this process started one (its CPU priority is lowered with the worker's). */
  pid?: number;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  port: number;
  /** SQLite file that keeps executions across restarts; without it they die with the process. */
  dbFile?: string;
  uiPort?: number;
  namespace: string;
  /**
   * SQLite pragmas for the file in `dbFile` (`--sqlite-pragma`); DURABLE_SQLITE_PRAGMAS unless
   * given. Ignored without `dbFile`.
   */
  sqlitePragmas?: Record<string, string>;
  /** Sees everything the server prints (benchmarks count its errors). */
  onOutput?: (chunk: string) => void;
}

/**
 * The fastest setting that keeps every commit the server acknowledged through a process kill and
 * a power loss alike (docs/decisions/001-temporal-server.md, bench/temporal-pragmas.ts): a
 * write-ahead log, synced at every commit.
 */
export const DURABLE_SQLITE_PRAGMAS: Readonly<Record<string, string>> = { journal_mode: 'wal', synchronous: 'full' };

/** A dev server this process started, which it can also kill as a crash would (fault tests). */
export interface DevServer extends TemporalServer {
  /** SIGKILL: whatever the server had not written to its database file is lost. */
  kill(): Promise<void>;
}

export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';
}

async function waitUntilServing(address: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new TemporalUnavailableError(`the Temporal dev server exited with code ${child.exitCode}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new TemporalUnavailableError(`the Temporal dev server at ${address} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}

/** Starts `temporal server start-dev` from the given binary and waits until it answers. */
export async function startDevServer(executable: string, options: DevServerOptions): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port), '--namespace', options.namespace];
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
    for (const [pragma, value] of Object.entries(options.sqlitePragmas ?? DURABLE_SQLITE_PRAGMAS)) args.push('--sqlite-pragma', `${pragma}=${value}`);
  }
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  // Its own process group: a Ctrl-C stops jml's API and worker before this server (tethered-process.ts).
  const server = spawnTethered(executable, args, { stdio: ['ignore', 'pipe', 'pipe'], stopSignal: 'SIGTERM' });
  const { child } = server;
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    options.onOutput?.(chunk.toString());
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const address = `127.0.0.1:${options.port}`;
  try {
    await waitUntilServing(address, child, 60_000);
  } catch (error) {
    await server.kill();
    throw new TemporalUnavailableError(`${(error as Error).message}\n${output.join('').slice(-2000)}`);
  }
  return {
    address,
    description: `local dev server (${executable})${options.dbFile ? `, state in ${options.dbFile}` : ''}`,
    uiUrl: options.uiPort ? `http://127.0.0.1:${options.uiPort}` : undefined,
    pid: child.pid,
    stop: server.stop,
    kill: server.kill,
  };
}

export async function obtainTemporalServer(options: DevServerOptions): Promise<TemporalServer> {
  const source = locateTemporal();
  switch (source.kind) {
    case 'cluster':
      return { address: source.address, description: `TEMPORAL_ADDRESS=${source.address}`, stop: async () => {} };
    case 'executable':
      return startDevServer(source.path, options);
    case 'go-build':
      return startDevServer(buildTemporalCli((line: string) => logger.info(line)), options);
    case 'sdk-download': {
      logger.warn('no Temporal CLI and no Go toolchain: downloading the dev server through the Temporal SDK');
      const { TestWorkflowEnvironment } = await import('@temporalio/testing');
      const env = await TestWorkflowEnvironment.createLocal({
        server: { ip: '127.0.0.1', port: options.port, dbFilename: options.dbFile, namespace: options.namespace },
      });
      return {
        address: env.address,
        description: 'local dev server downloaded by the Temporal SDK',
        stop: () => env.teardown(),
      };
    }
    default:
      throw new Error(`unknown Temporal source ${JSON.stringify(source)}`);
  }
}

// freePort lives in its own module so that PostgreSQL's tooling does not load the Temporal SDK.
export { freePort } from './free-port.js';
