// What the figures were measured on, and how busy the machine was while they were: the load
// generator shares the cores with the servers, so each phase reports everyone's CPU.
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const memory = (os.totalmem() / 2 ** 30).toFixed(1);
  return `${cpus.length} × ${model}, ${memory} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export interface MachineTicks {
  busy: number;
  total: number;
}

/** Whole-machine CPU ticks from /proc/stat (Linux); undefined elsewhere. */
export function machineTicks(): MachineTicks | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [, ...fields] = line.trim().split(/\s+/);
    const values = fields.map(Number);
    const total = values.reduce((sum, value) => sum + value, 0);
    // idle and iowait are the 4th and 5th fields.
    return { busy: total - (values[3] ?? 0) - (values[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/** Busy CPU time of all cores between two readings, in ms (/proc/stat counts USER_HZ ticks, 100 a second on Linux). */
export function busyCpuMs(before: MachineTicks | undefined, after: MachineTicks | undefined): number {
  return before && after ? (after.busy - before.busy) * 10 : Number.NaN;
}

/** Busy share of all cores between two readings, in percent. */
export function machineBusyPercent(before: MachineTicks | undefined, after: MachineTicks | undefined): number {
  if (!before || !after || after.total === before.total) return Number.NaN;
  return (100 * (after.busy - before.busy)) / (after.total - before.total);
}

export interface ProcessMemory {
  /** Resident set size now, in MiB. */
  rssMiB: number;
  /** The highest resident set size since the process started (VmHWM), in MiB. */
  peakRssMiB: number;
}

/** A process's memory from /proc/<pid>/status (Linux); undefined elsewhere or once it has exited. */
export function processMemory(pid: number): ProcessMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** This process's nice value as the scheduler sees it: its autogroup's where there is one (sched(7)). */
export function ownNice(): number {
  try {
    return Number(/nice (-?\d+)/.exec(readFileSync('/proc/self/autogroup', 'utf8'))?.[1]);
  } catch {
    return os.getPriority();
  }
}

/**
 * A process's CPU time (user + system, all its threads) from /proc/<pid>/stat (Linux), for
 * processes the benchmark did not fork as IPC children (the Temporal dev server); undefined
 * elsewhere or once it has exited.
 */
export function processCpuMicros(pid: number): number | undefined {
  try {
    // The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    const ticksPerSecond = 100; // USER_HZ: 100 on every Linux architecture Node runs on (proc(5)).
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

/**
 * The CPU time of every process named `postgres` on this machine (the local server's postmaster,
 * backends and background workers; Linux), in µs: the whole server, so other databases' work
 * counts too. Backends that exited between two readings take their time with them, so a
 * difference is a lower bound where connections come and go.
 */
export function postgresCpuMicros(): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  let micros = 0;
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    micros += processCpuMicros(Number(pid)) ?? 0;
  }
  return micros;
}
