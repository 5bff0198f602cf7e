// The attacker of issue 15 for bench/auth-flood.ts, in a process of its own: well-formed wrong
// bearer tokens over keep-alive connections, each connection sending its next request as soon as
// the last was answered. An attacker's CPU is on the attacker's machine; here it is on the cores
// jml uses, so the benchmark can lower this process (nice, in an autogroup of its own: the parent
// forks it detached) and send from another loopback address, and it prints this process's CPU.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { lowerCpuPriority } from '../../src/cli/supervisor.js';
import { serveParent } from './child.js';
import { scimHttpClient, type ScimHttpClient } from './load.js';
import { ownNice } from './machine.js';

export interface FloodTarget {
  /** The SCIM base URL, http://127.0.0.1:<port>/scim/v2. */
  url: string;
  concurrency: number;
  /** The loopback address the flood sends from. */
  localAddress: string;
  /**
   * Requests per second the flood aims at, spread evenly (request n is not sent before n/rate s);
   * 0: each connection sends as soon as its last was answered. A fixed rate makes two floods at
   * different servers cost the flood client the same; if the server answers slower, it falls short.
   */
  rate: number;
}

export interface FloodReport {
  sent: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  wallMs: number;
}

export type FloodProcessApi = {
  /** Lowers this process to `nice` (0-19) and answers the nice value its autogroup has now. */
  lower: (nice: number) => number;
  /** Starts flooding `target`; resolves once the connections are sending. */
  begin: (target: FloodTarget) => void;
  /** Requests of the running flood answered so far, by status. */
  progress: () => { sent: number; statuses: Record<string, number> };
  /** Stops once at least `atLeast` requests of this flood were answered; resolves with its figures. */
  end: (input: { atLeast: number }) => Promise<FloodReport>;
};

// The path of a SCIM filter read, query string and all (jml must tally the path without it).
const PATH = '/Users?filter=userName%20eq%20%22ada%40example.com%22';

interface Running {
  client: ScimHttpClient;
  statuses: Record<string, number>;
  sent: number;
  atLeast: number;
  stopping: boolean;
  started: number;
  loops: Promise<void>;
}

let running: Running | undefined;

const api: FloodProcessApi = {
  lower(nice) {
    lowerCpuPriority(process.pid, nice);
    return ownNice();
  },

  begin(target) {
    if (running) throw new Error('a flood is running already');
    // A token of the right shape: the costliest wrong token to refuse.
    const client = scimHttpClient(target.url, `jml_scim_${randomBytes(32).toString('base64url')}`, target.concurrency, { localAddress: target.localAddress });
    const flood: Running = { client, statuses: {}, sent: 0, atLeast: 0, stopping: false, started: performance.now(), loops: Promise.resolve() };
    let scheduled = 0;
    const loop = async () => {
      while (!flood.stopping || flood.sent < flood.atLeast) {
        if (target.rate > 0) {
          const due = flood.started + (scheduled++ * 1000) / target.rate;
          const wait = due - performance.now();
          if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
        }
        // A connection the server closed is counted by its error code, and the flood goes on.
        const answer = await client.send('GET', PATH).then(
          (response) => String(response.status),
          (error: NodeJS.ErrnoException) => error.code ?? error.message,
        );
        flood.sent += 1;
        flood.statuses[answer] = (flood.statuses[answer] ?? 0) + 1;
      }
    };
    flood.loops = Promise.all(Array.from({ length: target.concurrency }, loop)).then(() => undefined);
    running = flood;
  },

  progress() {
    if (!running) throw new Error('no flood is running');
    return { sent: running.sent, statuses: { ...running.statuses } };
  },

  async end({ atLeast }) {
    const flood = running;
    if (!flood) throw new Error('no flood is running');
    flood.atLeast = atLeast;
    flood.stopping = true;
    await flood.loops;
    running = undefined;
    flood.client.close();
    return { sent: flood.sent, statuses: flood.statuses, wallMs: performance.now() - flood.started };
  },
};

serveParent(api, async () => {
  if (running) await api.end({ atLeast: 0 });
});
