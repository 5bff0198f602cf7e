// Shutdown has a deadline (src/cli/shutdown.ts): on SIGTERM jml stops taking requests, lets those
// in flight finish, and exits with 0; when one never finishes (here a SCIM client that sent half
// its body and went quiet), it still exits once JML_SHUTDOWN_TIMEOUT_MS has passed, with exit code
// 1 and a line that says so, instead of waiting for the orchestrator's SIGKILL. Without the
// deadline the held request keeps the HTTP server's close() waiting for ever and this test times out.
import { connect } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHUTDOWN_TIMED_OUT_EXIT_CODE } from '../../src/cli/shutdown.js';
import { FAULT_TOKEN, prepareFaultRun, startJmlProcess, type FaultRun, type JmlProcess } from './support.js';

const DEADLINE_MS = 3000;

let run: FaultRun;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  run = await prepareFaultRun('shutdown');
});

afterAll(async () => {
  await jml?.kill();
  await run.close();
});

async function terminate(process: JmlProcess): Promise<{ code: number | string | null; ms: number }> {
  const started = Date.now();
  const exited = once(process.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  process.child.kill('SIGTERM');
  const [code, signal] = await exited;
  // A signal instead of a code means jml did not handle SIGTERM at all; its output says more.
  return { code: code ?? `${signal}: ${process.output()}`, ms: Date.now() - started };
}

describe('SIGTERM', () => {
  it('exits with 0 at once when nothing is in flight', async () => {
    jml = await startJmlProcess({ ...run.env, JML_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS) }, 'api');
    // 0, not the deadline's code: it finished draining before the deadline.
    expect((await terminate(jml)).code).toBe(0);
  });

  it('exits with the documented code once the deadline passes, when a request never finishes', async () => {
    jml = await startJmlProcess({ ...run.env, JML_SHUTDOWN_TIMEOUT_MS: String(DEADLINE_MS) }, 'api');
    const { port } = new URL(jml.url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    // Authenticated, so the request reaches the body parser, which waits for the 1,000 bytes promised.
    socket.write(`POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${FAULT_TOKEN}\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{"userName":`);
    socket.on('error', () => {});
    try {
      const { code, ms } = await terminate(jml);
      expect(code).toBe(SHUTDOWN_TIMED_OUT_EXIT_CODE);
      // It drained until the deadline, not less.
      expect(ms).toBeGreaterThanOrEqual(DEADLINE_MS - 100);
      expect(jml.output()).toContain(`shutdown did not finish within ${DEADLINE_MS} ms (JML_SHUTDOWN_TIMEOUT_MS): a request or an activity is still running; exiting with code 1 anyway`);
    } finally {
      socket.destroy();
    }
  });
});
