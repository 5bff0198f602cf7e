// Replays recorded workflow histories through today's workflow code. A change that would make a
// running workflow take a different path fails here; such changes go behind `patched()`.
// leaver-v1.json: the first lifecycle workflow (before the mass-deprovision guard and effective
// dates), recorded from a leaver where Mendix refused with 403 and the others succeeded.
// leaver-v2-held-approved.json: the workflow with the guard and dates but bookkeeping still as
// ordinary activities (before 'local-bookkeeping'), recorded from a leaver the guard held, alice
// approved, and Mendix refused with 403.
// leaver-v3-local-bookkeeping.json: the same scenario after 'local-bookkeeping' (decision 015):
// 34 history events and 4 workflow tasks where v2 took 62 and 10.
// leaver-v4-lean.json: a leaver that acts at once, after 'lean-lifecycle' (decision 018): one
// bookkeeping step before the three systems instead of two, all three succeeded. Recorded with
// `node --import tsx bench/leaver-statements.ts --leavers 1 --concurrency 1 --record-history <file>`.
// leaver-v5-bookkeeping-in-target-actions.json: the same leaver after 'bookkeeping-in-target-actions'
// (decision 055): the target actions begin and end the event, no local activity, and the one patch
// marker that implies the three before it: 22 history events where v4 took 28. Recorded the same way.
// leaver-v6-unthrottled-together.json: the same leaver after 'unthrottled-targets-together'
// (decision 067): the three systems have no rate limit and are acted on in one activity on the
// workflow's queue: 13 history events where v5 took 22. Recorded the same way.
//
// Every other workflow and path, recorded at 7aa39a9 by running the e2e tests with
// JML_RECORD_HISTORIES=<folder> (test/support/histories.ts writes each closed run there):
// leaver-v6-each-system-limited.json: a default deployment, each system rate-limited on its own
//   queue (one activity each; from a one-off e2e run with JML_RATE_LIMIT_<X>=10 for all three). leaver-v6-one-system-limited.json: Rocket.Chat limited on its queue,
//   the other two together (test/lifecycle/targets-together.e2e.test.ts).
// leaver-v6-needs-attention.json: Mendix answered 403; the event's end written by the workflow.
// leaver-v6-waits-then-cancelled.json: the shared activity found an earlier event of the person
//   open, the leaver waited for it and a cancel signal ended the wait.
// leaver-v6-dated-acts-at-once-then-waits.json: Rocket.Chat at once, a timer to the termination
//   date, then the others. leaver-v6-dated-cancelled-while-waiting.json: the date withdrawn while
//   the timer ran. leaver-v6-dated-started-when-due.json: started by the relay once due (decision 023).
// mover-v6.json, rehire-v6.json: a mover losing one entitlement; a rehire reactivating.
// mass-release-first-run.json, -continued-run.json, -last-run.json: one mass release of pages of 2,
//   two pages a run, continued as new twice, with a page retried after a vendor failure
//   (test/lifecycle/mass-release.e2e.test.ts). mass-release-429.json: one run waiting out a 429.
// idle-sweep.json, idle-sweep-held-approved.json: the sweep with its preview; held by the guard
//   until an operator approved it. reconcile-two-systems.json: Rocket.Chat's listing, then the
//   user API's.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { bundleWorkflows } from '../../src/temporal/workers.js';

const directory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'histories');

describe('workflow replay', () => {
  const histories = readdirSync(directory).filter((file) => file.endsWith('.json'));
  // One bundle for every history: bundling is seconds of CPU, replaying a history milliseconds.
  let bundle: ReturnType<typeof bundleWorkflows> | undefined;

  it('has recorded histories to replay', () => {
    expect(histories.length).toBeGreaterThan(0);
  });

  it.each(histories)('replays %s deterministically', async (file) => {
    // Stored as protobufjs's JSON of the History (JSON.stringify of fetchHistory()), and read back
    // with the same protobufjs: the SDK's historyFromJSON trips over npm's two nested copies of
    // protobufjs 8 (one under @temporalio/common, one under @temporalio/proto).
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(readFileSync(path.join(directory, file), 'utf8')) as object);
    const workflowBundle = await (bundle ??= bundleWorkflows());
    await expect(Worker.runReplayHistory({ workflowBundle }, history)).resolves.toBeUndefined();
  });
});
