// `npm run bench`: every figure issue 7 asks for, one benchmark after another (each starts and
// removes its own PostgreSQL database, Temporal dev server and processes, so none measures
// another's leftovers). Reports go to stdout; progress to stderr.
//
//   npm run bench                  # everything, at the sizes in docs/benchmarks.md (about an hour)
//   npm run bench -- --quick       # the same at small sizes, to try the scripts (a few minutes)
//   npm run bench -- --only burst  # one of: scim, deprovision, burst, burst-ordinary, burst-limited, hr-import, audit-integration,
//                                  # audit-append, auth-flood, leaver-statements, reconcile, evidence
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Run {
  name: string;
  script: string;
  args: string[];
  quick: string[];
}

const RUNS: Run[] = [
  { name: 'scim', script: 'scim.ts', args: [], quick: ['--population', '1000', '--lookups', '200', '--creates', '100', '--patches', '100', '--warmup', '20'] },
  { name: 'deprovision', script: 'deprovision.ts', args: ['--rates', '2,8', '--seconds', '60', '--latency', '20'], quick: ['--rates', '2,8', '--seconds', '10', '--latency', '20', '--warmup', '5'] },
  { name: 'burst', script: 'burst.ts', args: ['--leavers', '10000'], quick: ['--leavers', '300'] },
  // Issue 13's "release of 2,000 approved leavers" target for ordinary leavers: one workflow per
  // leaver, against the bare Temporal floor of as many workflows (the 10,000 above go through the
  // mass lane, decision 048).
  { name: 'burst-ordinary', script: 'burst.ts', args: ['--leavers', '2000', '--mass-release', 'off', '--batch-floor', '0'], quick: ['--leavers', '300', '--mass-release', 'off', '--batch-floor', '0'] },
  // The share of a vendor's allowed rate is a steady state, reached within the first minute:
  // 2,000 leavers show it in ~10 minutes where 10,000 took 45 more to print the same share.
  { name: 'burst-limited', script: 'burst.ts', args: ['--leavers', '2000', '--allowed', '8'], quick: ['--leavers', '300', '--allowed', '8'] },
  { name: 'hr-import', script: 'hr-import.ts', args: ['--rows', '10000'], quick: ['--rows', '500'] },
  { name: 'audit-integration', script: 'audit-integration.ts', args: ['--concurrency', '16', '--transactions', '6000'], quick: ['--concurrency', '16', '--transactions', '1000'] },
  { name: 'audit-append', script: 'audit-append.ts', args: ['--concurrency', '16', '--transactions', '2000'], quick: ['--concurrency', '16', '--transactions', '300'] },
  { name: 'auth-flood', script: 'auth-flood.ts', args: [], quick: ['--creates', '200', '--rounds', '2', '--flood', '2000'] },
  { name: 'leaver-statements', script: 'leaver-statements.ts', args: ['--leavers', '20'], quick: ['--leavers', '10'] },
  { name: 'reconcile', script: 'reconcile.ts', args: ['--accounts', '100000'], quick: ['--accounts', '10000'] },
  { name: 'evidence', script: 'evidence.ts', args: ['--rows', '1000000', '--people', '300'], quick: ['--rows', '20000', '--people', '50'] },
];

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string', multiple: true } } });
const selected = values.only ? RUNS.filter((run) => values.only!.includes(run.name)) : RUNS;
if (values.only && selected.length !== values.only.length) {
  process.stderr.write(`--only takes ${RUNS.map((run) => run.name).join(', ')}\n`);
  process.exit(2);
}

let failed = 0;
for (const run of selected) {
  const args = values.quick ? run.quick : run.args;
  process.stderr.write(`[bench] === ${run.name}: bench/${run.script} ${args.join(' ')}\n`);
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(`./${run.script}`, import.meta.url)), ...args], { stdio: 'inherit' });
  process.stderr.write(`[bench] === ${run.name}: ${result.status === 0 ? 'finished' : `FAILED (${result.signal ?? result.status})`} after ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
