// Which SQLite pragmas the file-backed Temporal dev server that `npm start` runs should use
// (issue 13, docs/decisions/001-temporal-server.md): the bare Temporal fan-out floor
// (bench/support/temporal-floor.ts) against a fresh dev server per setting, each setting `--rounds`
// times, interleaved so that a noisy neighbour hits every setting alike, plus the in-memory server
// the benchmarks use as the reference. Prints each run, then per setting the median wf/s and its
// ratio to the in-memory server, and how many "context canceled" lines the server logged.
//
//   node --import tsx bench/temporal-pragmas.ts [--workflows 100] [--rounds 2] [--latency 20]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { locateTemporalCli } from '../scripts/temporal-cli.js';
import { freePort, startDevServer } from '../src/infra/temporal-server.js';
import { countOption, log, parseOptions } from './support/harness.js';
import { describeMachine } from './support/machine.js';
import { ofFloor } from './support/stats.js';
import { measureTemporalFloor } from './support/temporal-floor.js';

const options = parseOptions(z.object({ workflows: countOption(100), rounds: countOption(2), latency: countOption(20, 0) }), ['workflows', 'rounds', 'latency']);

interface Setting {
  name: string;
  /** Undefined: no file, the server's in-memory store. */
  pragmas?: Record<string, string>;
  durable: string;
}

// SQLite's own documentation (https://www.sqlite.org/pragma.html#pragma_synchronous) for the
// durability column: WAL with NORMAL loses no commit when a process dies, only at power loss.
const SETTINGS: Setting[] = [
  { name: 'in memory (reference)', durable: 'no: lost with the process' },
  { name: 'file, SQLite defaults (journal delete, synchronous full)', pragmas: {}, durable: 'yes' },
  { name: 'file, journal_mode=wal, synchronous=full', pragmas: { journal_mode: 'wal', synchronous: 'full' }, durable: 'yes' },
  { name: 'file, journal_mode=wal, synchronous=normal', pragmas: { journal_mode: 'wal', synchronous: 'normal' }, durable: 'process kill: yes; power loss: last commits may roll back' },
];

const source = locateTemporalCli();
if (source.kind !== 'executable') throw new Error('this benchmark needs the Temporal CLI (run `node scripts/bootstrap.js` first)');
const directory = mkdtempSync(path.join(os.tmpdir(), 'jml-temporal-pragmas-'));
const results = new Map<string, { perSecond: number[]; cpuMs: number[]; canceled: number[] }>();
try {
  for (let round = 1; round <= options.rounds; round++) {
    for (const setting of SETTINGS) {
      const dbFile = setting.pragmas ? path.join(directory, `round-${round}-${results.size}-${Date.now()}.db`) : undefined;
      let canceled = 0;
      const server = await startDevServer(source.path, {
        port: await freePort(),
        namespace: 'default',
        ...(dbFile ? { dbFile, sqlitePragmas: setting.pragmas } : {}),
        onOutput: (chunk) => void (canceled += chunk.split('context canceled').length - 1),
      });
      try {
        const floor = await measureTemporalFloor({ address: server.address, workflows: options.workflows, latencyMs: options.latency });
        const entry = results.get(setting.name) ?? { perSecond: [], cpuMs: [], canceled: [] };
        entry.perSecond.push(floor.perSecond);
        entry.cpuMs.push(floor.workerCpuMsPerWorkflow);
        entry.canceled.push(canceled);
        results.set(setting.name, entry);
        log(`round ${round}, ${setting.name}: ${floor.perSecond.toFixed(1)} wf/s, worker ${floor.workerCpuMsPerWorkflow.toFixed(1)} ms CPU/wf, ${canceled} "context canceled" lines`);
      } finally {
        await server.stop();
        if (dbFile) for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${dbFile}${suffix}`, { force: true });
      }
    }
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const reference = median(results.get(SETTINGS[0]!.name)!.perSecond);
const lines = [
  '',
  `Temporal dev server SQLite pragmas: ${options.workflows} floor workflows per run (3 parallel ${options.latency} ms HTTP activities each), ${options.rounds} rounds interleaved`,
  `machine:  ${describeMachine()}`,
  `Temporal: ${source.path}`,
  '',
  '| setting | durable | wf/s per run | median wf/s | vs in memory | worker CPU ms/wf (median) | "context canceled" lines per run |',
  '|---|---|---|---:|---:|---:|---|',
  ...SETTINGS.map((setting) => {
    const entry = results.get(setting.name)!;
    const rate = median(entry.perSecond);
    return `| ${setting.name} | ${setting.durable} | ${entry.perSecond.map((value) => value.toFixed(1)).join(', ')} | ${rate.toFixed(1)} | ${ofFloor(rate, reference).replace(' floor', '')} | ${median(entry.cpuMs).toFixed(1)} | ${entry.canceled.join(', ')} |`;
  }),
  '',
];
process.stdout.write(lines.join('\n'));
