// What each of jml's extras costs the Temporal server per leaver workflow (issue 13, decision 065's
// "Left"): the bare Temporal fan-out floor (bench/support/temporal-floor.ts) beside the same
// workflow with one extra at a time, each on a fresh in-memory dev server, the variants interleaved
// round by round so that a noisy neighbour hits each alike:
//   bare      three parallel activities calling a 20 ms stub (the floor of bench/burst.ts)
//   patched   the same behind one patched() marker, as jml's lifecycle workflow starts (decision 055)
//   timeouts  the same with jml's downstream activity options (heartbeat timeout, schedule-to-close)
//   queues    each system's activity on a task queue of its own, polled by its own worker (decision 005)
// Prints per run and as medians: workflows/s, and CPU per workflow of the Temporal server, the
// floor's worker and the whole machine.
//
//   node --import tsx bench/temporal-extras.ts [--workflows 1000] [--rounds 2] [--latency 20]
import { z } from 'zod';
import { locateTemporalCli } from '../scripts/temporal-cli.js';
import { freePort, startDevServer } from '../src/infra/temporal-server.js';
import { countOption, log, parseOptions } from './support/harness.js';
import { describeMachine, processCpuMicros } from './support/machine.js';
import { measureTemporalFloor } from './support/temporal-floor.js';

const options = parseOptions(z.object({ workflows: countOption(1000), rounds: countOption(2), latency: countOption(20, 0) }), ['workflows', 'rounds', 'latency']);

const VARIANTS = [
  { name: 'bare', workflowType: 'floorLeaverWorkflow' },
  { name: 'patched', workflowType: 'floorLeaverWorkflowPatched' },
  { name: 'timeouts', workflowType: 'floorLeaverWorkflowTimeouts' },
  { name: 'queues', workflowType: 'floorLeaverWorkflowQueues', perSystemQueues: true },
] as const;

interface Sample {
  perSecond: number;
  temporalMs: number;
  workerMs: number;
  machineMs: number;
}

const source = locateTemporalCli();
if (source.kind !== 'executable') throw new Error('this benchmark needs the Temporal CLI (run `node scripts/bootstrap.js` first)');
const samples = new Map<string, Sample[]>(VARIANTS.map((variant) => [variant.name, []]));
for (let round = 1; round <= options.rounds; round++) {
  // Each round starts with a different variant, so that none always runs first.
  const order = VARIANTS.map((_, index) => VARIANTS[(index + round - 1) % VARIANTS.length]!);
  for (const variant of order) {
    const server = await startDevServer(source.path, { port: await freePort(), namespace: 'default' });
    try {
      const pid = server.pid;
      const floor = await measureTemporalFloor({
        address: server.address,
        workflows: options.workflows,
        latencyMs: options.latency,
        workflowType: variant.workflowType,
        perSystemQueues: 'perSystemQueues' in variant,
        temporalCpuMicros: () => (pid === undefined ? Number.NaN : (processCpuMicros(pid) ?? Number.NaN)),
      });
      const sample = { perSecond: floor.perSecond, temporalMs: floor.temporalCpuMsPerWorkflow, workerMs: floor.workerCpuMsPerWorkflow, machineMs: floor.machineCpuMsPerWorkflow };
      samples.get(variant.name)!.push(sample);
      log(`round ${round}, ${variant.name}: ${sample.perSecond.toFixed(1)} wf/s, Temporal ${sample.temporalMs.toFixed(1)} ms, worker ${sample.workerMs.toFixed(1)} ms, machine ${sample.machineMs.toFixed(1)} ms CPU per workflow`);
    } finally {
      await server.stop();
    }
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const runs = (values: number[]) => values.map((value) => value.toFixed(1)).join(', ');
const bare = samples.get('bare')!;
const lines = [
  '',
  `Temporal's cost of jml's extras: ${options.workflows} workflows per run (3 parallel ${options.latency} ms HTTP activities each), ${options.rounds} rounds interleaved, a fresh in-memory dev server per run`,
  `machine:  ${describeMachine()}`,
  `Temporal: ${source.path}`,
  '',
  '| variant | wf/s per run | median wf/s | Temporal CPU ms/wf per run | median | vs bare | worker CPU ms/wf (median) | machine CPU ms/wf (median) |',
  '|---|---|---:|---|---:|---:|---:|---:|',
  ...VARIANTS.map(({ name }) => {
    const entry = samples.get(name)!;
    const temporal = median(entry.map((sample) => sample.temporalMs));
    const extra = temporal - median(bare.map((sample) => sample.temporalMs));
    return (
      `| ${name} | ${runs(entry.map((sample) => sample.perSecond))} | ${median(entry.map((sample) => sample.perSecond)).toFixed(1)} | ` +
      `${runs(entry.map((sample) => sample.temporalMs))} | ${temporal.toFixed(1)} | ${name === 'bare' ? '–' : `${extra >= 0 ? '+' : ''}${extra.toFixed(1)} ms`} | ` +
      `${median(entry.map((sample) => sample.workerMs)).toFixed(1)} | ${median(entry.map((sample) => sample.machineMs)).toFixed(1)} |`
    );
  }),
  '',
];
process.stdout.write(lines.join('\n'));
