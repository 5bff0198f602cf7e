// What the simulator and connector tests share: a clock the test moves, a person to act on, and
// a simulator server on an ephemeral port of 127.0.0.1.
import { afterEach } from 'vitest';
import type { IdentitySnapshot } from '../../src/connectors/types.js';
import { startSimulatorServer, type SimulatorServer, type SimulatorServerOptions } from '../../src/simulators/index.js';

export class TestClock {
  private current = Date.parse('2026-03-02T09:00:00.000Z');
  readonly now = (): number => this.current;
  advance(ms: number): void {
    this.current += ms;
  }
}

export function identity(overrides: Partial<IdentitySnapshot> = {}): IdentitySnapshot {
  return {
    id: '2819c223-7f76-453a-919d-413861904646',
    userName: 'ada.lovelace',
    externalId: '110747174434373672',
    email: 'ada.lovelace@example.com',
    employeeNumber: 'E-1815',
    resource: {},
    ...overrides,
  };
}

export function startSimulators(options: SimulatorServerOptions = {}): Promise<SimulatorServer> {
  return startSimulatorServer({ host: '127.0.0.1', port: 0, ...options });
}

/**
 * For one test file: a function starting a simulator server on its own TestClock; every server
 * started is closed after each test.
 */
export function simulatorServers(): (options?: SimulatorServerOptions) => Promise<{ clock: TestClock; server: SimulatorServer }> {
  const running: SimulatorServer[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((server) => server.close()));
  });
  return async (options = {}) => {
    const clock = new TestClock();
    const server = await startSimulators({ now: clock.now, ...options });
    running.push(server);
    return { clock, server };
  };
}

/** The rejection of `promise`, for assertions on the error's class and fields. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** A URL on which nothing listens: a server is started, its port noted, and the server closed. */
export async function deadUrl(): Promise<string> {
  const server = await startSimulators();
  await server.close();
  return server.urls.rocketchat;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}
