// The outbox relay's lease (docs/decisions/018-lifecycle-transitions.md), against the real
// PostgreSQL and the run's real Temporal server: two relays draining one outbox at once start every
// row exactly once, a workflow's signal after its start, and lose none; a relay killed after it
// claimed its rows (it claims and never marks) holds them only until its lease runs out, then
// another relay takes them, and a start the dead relay had already made collapses into the running
// workflow. The workflows run on a task queue of the test's own that no worker polls: they start
// and wait, and are terminated at the end.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { OutboxRelay } from '../../src/lifecycle/outbox-relay.js';
import { logger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const WORKFLOW_TYPE = 'outboxRelayLeaseProbe';
const taskQueue = `relay-lease-${randomBytes(4).toString('hex')}`;

let database: TestDatabase;
let connection: Connection;
let client: Client;
const started: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  connection = await Connection.connect({ address: inject('temporalAddress') });
  client = new Client({ connection });
});
afterAll(async () => {
  await Promise.all(started.map((workflowId) => client.workflow.getHandle(workflowId).terminate('test over').catch(() => {})));
  await connection?.close();
  await database?.drop();
});

/** What the relays asked of Temporal, in order: `start <id>` and `signal <id>`. Each call goes to the real server. */
function recordingClient(calls: string[]): Client {
  const workflow = {
    start: async (type: string, options: Parameters<Client['workflow']['start']>[1]) => {
      calls.push(`start ${options.workflowId}`);
      // Long enough for the other relay's pass to run beside this one.
      await sleep(2);
      return client.workflow.start(type, options);
    },
    getHandle: (workflowId: string) => ({
      signal: async (name: string, ...args: unknown[]) => {
        calls.push(`signal ${workflowId}`);
        return client.workflow.getHandle(workflowId).signal(name, ...args);
      },
    }),
  };
  return { workflow } as unknown as Client;
}

function relay(calls: string[], leaseMs?: number) {
  return new OutboxRelay({ db: database.db, client: recordingClient(calls), taskQueue, pollMs: 60_000, leaseMs, logger });
}

/** Start rows for `count` new workflows, and a signal row behind every third one. */
async function writeOutbox(count: number): Promise<{ workflowIds: string[]; signalled: string[] }> {
  const prefix = `relay-lease-${randomBytes(4).toString('hex')}`;
  const workflowIds = Array.from({ length: count }, (_, index) => `${prefix}-${index}`);
  const signalled = workflowIds.filter((_, index) => index % 3 === 0);
  for (const workflowId of workflowIds) {
    await database.query(`INSERT INTO outbox (kind, workflow_id, workflow_type, args) VALUES ('start', $1, $2, '[]'::jsonb)`, [workflowId, WORKFLOW_TYPE]);
    if (signalled.includes(workflowId)) await database.query(`INSERT INTO outbox (kind, workflow_id, signal, args) VALUES ('signal', $1, 'probe', '[{}]'::jsonb)`, [workflowId]);
  }
  started.push(...workflowIds);
  return { workflowIds, signalled };
}

async function undispatched(workflowIds: string[]) {
  const [row] = await database.query<{ count: number }>(`SELECT count(*)::int AS count FROM outbox WHERE workflow_id = ANY($1::text[]) AND dispatched_at IS NULL`, [workflowIds]);
  return row!.count;
}

/** Drains until a pass takes nothing and says nothing is left. */
async function drainAll(outboxRelay: OutboxRelay) {
  for (;;) {
    const pass = await outboxRelay.drainOnce();
    expect(pass.failed).toBe(0);
    if (pass.taken === 0 && !pass.more) return;
  }
}

describe('the outbox relay claims rows with a lease', () => {
  it('two relays at once start every row exactly once, each signal after its start, and lose none', async () => {
    const { workflowIds, signalled } = await writeOutbox(240);
    const calls: string[] = [];
    await Promise.all([drainAll(relay(calls)), drainAll(relay(calls))]);

    expect(await undispatched(workflowIds)).toBe(0);
    for (const workflowId of workflowIds) {
      const mine = calls.filter((call) => call.endsWith(` ${workflowId}`));
      expect(mine, workflowId).toEqual(signalled.includes(workflowId) ? [`start ${workflowId}`, `signal ${workflowId}`] : [`start ${workflowId}`]);
    }
    const runs = await Promise.all(workflowIds.map((workflowId) => client.workflow.getHandle(workflowId).describe()));
    expect(runs.map((run) => run.status.name)).toEqual(workflowIds.map(() => 'RUNNING'));
  });

  it('rows a relay claimed and never marked are taken by another relay once its lease runs out, and a start it made collapses into the running workflow', async () => {
    const { workflowIds, signalled } = await writeOutbox(12);
    const deadCalls: string[] = [];
    // The relay that dies: it claims, starts two of the workflows, and never marks anything.
    const claimed = await relay(deadCalls, 1_500).claim(new Date());
    const mine = claimed.rows.filter((row) => workflowIds.includes(row.workflow_id));
    expect(mine.filter((row) => row.kind === 'start')).toHaveLength(12);
    const firstRuns = await Promise.all(workflowIds.slice(0, 2).map(async (workflowId) => (await client.workflow.start(WORKFLOW_TYPE, { workflowId, taskQueue, args: [] })).firstExecutionRunId));

    const calls: string[] = [];
    const survivor = relay(calls);
    const whileLeased = await survivor.drainOnce();
    expect(whileLeased.taken).toBe(0);
    expect(await undispatched(workflowIds)).toBe(12 + signalled.length);

    // The lease runs out on the database's clock.
    for (let waited = 0; ; waited += 100) {
      const [row] = await database.query<{ leased: number }>(`SELECT count(*)::int AS leased FROM outbox WHERE workflow_id = ANY($1::text[]) AND lease_until > now()`, [workflowIds]);
      if (row!.leased === 0) break;
      if (waited > 30_000) throw new Error('the lease never ran out');
      await sleep(100);
    }
    await drainAll(survivor);
    expect(await undispatched(workflowIds)).toBe(0);
    expect(calls.filter((call) => call.startsWith('start '))).toHaveLength(12);
    // The two workflows the dead relay started are the same runs: starting again changed nothing.
    const runs = await Promise.all(workflowIds.slice(0, 2).map((workflowId) => client.workflow.getHandle(workflowId).describe()));
    expect(runs.map((run) => run.runId)).toEqual(firstRuns);
  });
});
