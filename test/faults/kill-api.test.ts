// A SCIM request that got a 2xx is never lost, even when jml is killed (SIGKILL) while requests
// are in flight: after a restart, every acknowledged leaver is deactivated exactly once in each
// system, and nothing is left pending.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { simulatorConnectorEnvironment, startSimulatorServer, type SimulatorServer } from '../../src/simulators/index.js';
import { CORE_USER, PATCH_OP, scimClient } from '../support/scim-client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startJmlProcess, type JmlProcess } from './support.js';

const PEOPLE = 150;
const TOKEN = 'fault-test-token-'.padEnd(48, 'x');

let database: TestDatabase;
let simulators: SimulatorServer;
let env: Record<string, string>;
let jml: JmlProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase();
  simulators = await startSimulatorServer({ rocketchat: { rateLimit: false }, userapi: { rateLimits: false }, mendix: { rateLimit: false } });
  env = {
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `faults-${process.pid}`,
    JML_SCIM_TOKEN: TOKEN,
    JML_SCIM_RATE_LIMIT: '0',
    JML_GUARD_ENABLED: 'false',
    JML_RATE_LIMIT_ROCKETCHAT: '0',
    JML_RATE_LIMIT_MENDIX: '0',
    JML_RATE_LIMIT_USERAPI: '0',
    JML_OUTBOX_POLL_MS: '200',
    JML_RETRY_INITIAL_MS: '200',
    ...simulatorConnectorEnvironment(simulators.urls),
  };
});

afterAll(async () => {
  await jml?.stop();
  await simulators.close();
  await database.drop();
});

describe('kill -9 of the API process', () => {
  it('loses no acknowledged leaver and acts on none twice', async () => {
    jml = await startJmlProcess(env);
    const scim = () => scimClient(`${jml!.url}/scim/v2`, TOKEN);
    const ids: string[] = [];
    for (let index = 0; index < PEOPLE; index++) {
      const userName = `crash${index}`;
      simulators.simulators.seedFromIdentity({ userName, email: `${userName}@example.com`, externalId: `ext-${userName}` });
      const created = await scim().post('/Users', { schemas: [CORE_USER], userName, externalId: `ext-${userName}`, emails: [{ value: `${userName}@example.com`, primary: true }] });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }

    // Deactivate everyone, 16 at a time, and kill jml once a third have been answered.
    const acknowledged = new Set<string>();
    let answered = 0;
    let next = 0;
    const killAfter = Math.floor(PEOPLE / 3);
    let killing: Promise<void> | undefined;
    const url = jml.url;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < PEOPLE) {
          const index = next++;
          try {
            const response = await scimClient(`${url}/scim/v2`, TOKEN).patch(`/Users/${ids[index]}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] });
            if (response.status === 200) acknowledged.add(`ext-crash${index}`);
          } catch {
            // The connection died with the process: no answer, no promise made.
          }
          answered++;
          if (answered === killAfter) killing = jml!.kill();
        }
      }),
    );
    await killing;
    expect(acknowledged.size).toBeGreaterThanOrEqual(killAfter - 16);
    expect(acknowledged.size).toBeLessThan(PEOPLE);

    // Restart on the same database and Temporal server; the relay starts what the crash left.
    jml = await startJmlProcess(env);
    for (let waited = 0; waited < 120_000; waited += 500) {
      const [open] = await database.query<{ count: string }>(`SELECT count(*) FROM lifecycle_event WHERE kind = 'leaver' AND status NOT IN ('completed', 'needs_attention', 'cancelled')`);
      const [undispatched] = await database.query<{ count: string }>('SELECT count(*) FROM outbox WHERE dispatched_at IS NULL');
      if (Number(open!.count) === 0 && Number(undispatched!.count) === 0) break;
      await sleep(500);
    }

    const leavers = await database.query<{ external_id: string; status: string }>(
      `SELECT i.external_id, e.status FROM lifecycle_event e JOIN identity i ON i.id = e.identity_id WHERE e.kind = 'leaver'`);
    expect(leavers.filter((leaver) => leaver.status !== 'completed')).toEqual([]);
    const committed = new Set(leavers.map((leaver) => leaver.external_id));
    // Every acknowledged request was committed (and some unacknowledged ones may have been too).
    for (const externalId of acknowledged) expect(committed.has(externalId)).toBe(true);

    // Downstream, counted as state changes (delivery is at least once: an activity that called a
    // system and died before recording it is retried, and the repeat changes nothing):
    // the user API's simulator records each change it performed; exactly one per committed leaver.
    const changes = new Map<string, number>();
    for (const action of simulators.simulators.userapi.actions()) {
      expect(action.action).toBe('deactivate');
      changes.set(action.userId, (changes.get(action.userId) ?? 0) + 1);
    }
    expect([...changes.keys()].sort()).toEqual([...committed].sort());
    expect([...changes.values()].every((count) => count === 1)).toBe(true);
    // Rocket.Chat and Mendix: nobody is ever reactivated here, so being inactive at the end means
    // exactly one deactivation; and exactly the committed leavers are inactive.
    const inactiveNames = (users: { active: boolean }[], key: (user: never) => string) =>
      users.filter((user) => !user.active).map((user) => key(user as never)).sort();
    const committedNames = [...committed].map((externalId) => externalId.replace(/^ext-/, '')).sort();
    expect(inactiveNames(simulators.simulators.rocketchat.users(), (user: { username: string }) => user.username)).toEqual(committedNames);
    expect(inactiveNames(simulators.simulators.mendix.users(), (user: { email: string }) => user.email.replace('@example.com', ''))).toEqual(committedNames);
    const reactivations = simulators.simulators.rocketchat.calls().filter((call) => (call.body as { activeStatus?: unknown } | undefined)?.activeStatus === true);
    expect(reactivations).toHaveLength(0);
  });
});
