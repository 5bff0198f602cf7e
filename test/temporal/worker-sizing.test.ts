// The worker is sized from the machine: a bounded workflow cache, task and activity slots per CPU.
import { describe, expect, it } from 'vitest';
import { currentMachine, MAX_CACHED_WORKFLOWS, sizeWorker, WORKER_MALLOC_ARENAS, workerProcessEnvironment } from '../../src/temporal/worker-sizing.js';

const GiB = 1024 ** 3;

describe('sizeWorker', () => {
  it('sizes this kind of machine (2 cores, 24 GiB): the cache at its cap, slots per core', () => {
    expect(sizeWorker({ cpus: 2, memoryBytes: 24 * GiB })).toEqual({ cachedWorkflows: MAX_CACHED_WORKFLOWS, workflowTaskSlots: 16, activitySlots: 20 });
  });

  it('bounds the cache by memory on a small machine or container', () => {
    // 5 % of 1 GiB is 51 MiB: about 102 workflows at half a MiB each.
    expect(sizeWorker({ cpus: 1, memoryBytes: 1 * GiB }).cachedWorkflows).toBe(102);
    expect(sizeWorker({ cpus: 1, memoryBytes: 64 * 1024 * 1024 }).cachedWorkflows).toBe(16);
  });

  it('grows slots with the cores, not the cache', () => {
    const big = sizeWorker({ cpus: 16, memoryBytes: 128 * GiB });
    expect(big).toEqual({ cachedWorkflows: MAX_CACHED_WORKFLOWS, workflowTaskSlots: 128, activitySlots: 160 });
  });

  it("keeps an operator's explicit settings", () => {
    expect(sizeWorker({ cpus: 2, memoryBytes: 24 * GiB }, { cachedWorkflows: 0, activitySlots: 5 })).toEqual({ cachedWorkflows: 0, workflowTaskSlots: 16, activitySlots: 5 });
  });

  it('reads the machine it runs on', () => {
    const machine = currentMachine();
    expect(machine.cpus).toBeGreaterThanOrEqual(1);
    expect(machine.memoryBytes).toBeGreaterThan(0);
  });
});

describe('workerProcessEnvironment', () => {
  it('starts the worker with two malloc arenas, unless the operator chose a number', () => {
    expect(workerProcessEnvironment({})).toEqual({ MALLOC_ARENA_MAX: String(WORKER_MALLOC_ARENAS) });
    expect(WORKER_MALLOC_ARENAS).toBe(2);
    expect(workerProcessEnvironment({ MALLOC_ARENA_MAX: '4' })).toEqual({});
  });
});
