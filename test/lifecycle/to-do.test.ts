// The targets jml cannot finish alone, listed across events (issue 14): needs attention, not found
// and manual actions, each with what to do, on `jml events todo` and the operator page. Settled
// targets, cancelled events and anything older than the window are not on it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsCommand } from '../../src/cli/events.js';
import { targetsToDo } from '../../src/lifecycle/to-do.js';
import { overviewBody } from '../../src/ui/pages.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
const events: Record<string, string> = {};

type Status = 'needs_attention' | 'not_found' | 'manual_action_required' | 'verified';

async function seed(name: string, kind: 'leaver' | 'rehire', eventStatus: 'completed' | 'needs_attention' | 'cancelled', targets: { system: 'rocketchat' | 'mendix' | 'userapi'; status: Status; lastError?: string }[], daysAgo = 0) {
  const { db } = database;
  const identity = await db.identity.create({ data: { userName: name, active: kind === 'rehire', resource: {} } });
  const id = randomUUID();
  await db.lifecycleEvent.create({ data: { id, identityId: identity.id, kind, status: eventStatus, actor: 'okta', effectiveAt: new Date(), workflowId: `lifecycle-${id}`, changes: {} } });
  const action = kind === 'leaver' ? ('deactivate' as const) : ('reactivate' as const);
  await db.targetAction.createMany({ data: targets.map((target) => ({ eventId: id, action, ...target })) });
  await database.query(`UPDATE target_action SET updated_at = now() - make_interval(days => $2::int) WHERE event_id = $1`, [id, daysAgo]);
  events[name] = id;
}

beforeAll(async () => {
  database = await createTestDatabase();
  await seed('ada', 'leaver', 'needs_attention', [
    { system: 'userapi', status: 'needs_attention', lastError: 'PermanentDownstreamError: 403' },
    { system: 'rocketchat', status: 'verified' },
  ]);
  await seed('grace', 'leaver', 'completed', [{ system: 'rocketchat', status: 'not_found' }, { system: 'userapi', status: 'verified' }]);
  await seed('hopper', 'rehire', 'completed', [{ system: 'mendix', status: 'manual_action_required' }, { system: 'rocketchat', status: 'verified' }]);
  await seed('old', 'rehire', 'completed', [{ system: 'mendix', status: 'manual_action_required' }], 31);
  await seed('withdrawn', 'leaver', 'cancelled', [{ system: 'rocketchat', status: 'needs_attention', lastError: 'x' }]);
});

afterAll(async () => {
  await database.drop();
});

describe('what to do by hand', () => {
  it('lists attention, not found and manual actions with their step; nothing settled, cancelled or older than 30 days', async () => {
    const toDo = await targetsToDo(database.db);
    expect(toDo.map((target) => [target.userName, target.system, target.status]).sort()).toEqual([
      ['ada', 'userapi', 'needs_attention'],
      ['grace', 'rocketchat', 'not_found'],
      ['hopper', 'mendix', 'manual_action_required'],
    ]);
    const step = (userName: string) => toDo.find((target) => target.userName === userName)!.nextStep;
    expect(step('ada')).toBe(`Fix what the last error names in userapi or its settings, then retry it (jml events retry ${events.ada} --system userapi, or Retry on the operator page).`);
    expect(step('grace')).toBe('rocketchat has no account for this person: confirm they never had one; nothing was deactivated.');
    expect(step('hopper')).toMatch(/^mendix's API cannot reactivate accounts: reactivate it by hand/);
    // A wider window finds the old manual action too.
    const wider = await targetsToDo(database.db, { since: new Date(Date.now() - 40 * 86_400_000) });
    expect(wider.map((target) => target.userName)).toContain('old');
  });

  it('`jml events todo` prints each with what to do, and refuses a bad --since', async () => {
    let out = '';
    let err = '';
    const io = { out: (text: string) => (out += text), err: (text: string) => (err += text) };
    expect(await eventsCommand(database.db, { action: 'todo' }, io)).toBe(0);
    expect(out).toContain(`hopper  mendix reactivate manual_action_required  (rehire ${events.hopper}, completed)\n    to do: mendix's API cannot reactivate accounts`);
    expect(out).toContain(`ada  userapi deactivate needs_attention  (leaver ${events.ada}, needs_attention)\n    last error: PermanentDownstreamError: 403\n    to do: Fix what`);
    expect(out).not.toContain('withdrawn');
    expect(await eventsCommand(database.db, { action: 'todo', since: 'yesterday' }, io)).toBe(2);
    expect(err).toContain('--since must be an ISO 8601 date');
    out = '';
    expect(await eventsCommand(database.db, { action: 'todo', since: new Date(Date.now() + 60_000).toISOString() }, io)).toBe(0);
    expect(out).toMatch(/^Nothing to do by hand since /);
  });

  it('the operator page shows them in their own section, with what to do', async () => {
    const toDo = await targetsToDo(database.db);
    const page = overviewBody({ held: [], inFlight: [], attention: [], completed: [], names: new Map(), canAct: true, toDo }).value;
    expect(page).toContain('<h2>To do by hand, last 30 days (3)</h2>');
    expect(page).toMatch(new RegExp(`<tr class="to-do manual_action_required" data-event="${events.hopper}" data-system="mendix">.*<td class="next-step">mendix&#39;s API cannot reactivate accounts`));
    expect(page.match(/<tr class="to-do /g)).toHaveLength(3);
  });
});
