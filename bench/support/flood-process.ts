// The attacker of issue 15 for bench/auth-flood.ts, in a process of its own: well-formed wrong
// bearer tokens over keep-alive connections, written as raw HTTP/1.1 requests built once, several
// to a write when asked (pipelining, RFC 9112 §9.3.2), and answers counted by their status lines.
// No HTTP client library: an attacker's CPU is on the attacker's machine, but this one's is on the
// two cores jml uses, so what it takes from the SCIM client must be as little as a write and a
// scan of the bytes that come back (node:http's client cost 160-190 µs per request here, decision
// 062). The benchmark can also lower this process (nice, in an autogroup of its own: the parent
// forks it detached), sends from another loopback address, and prints this process's CPU.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { lowerCpuPriority } from '../../src/cli/supervisor.js';
import { serveParent } from './child.js';
import { NonLoopbackTargetError } from './load.js';
import { ownNice } from './machine.js';

export interface FloodTarget {
  /** The SCIM base URL, http://127.0.0.1:<port>/scim/v2. */
  url: string;
  /** Keep-alive connections the flood spreads over. */
  concurrency: number;
  /** The loopback address the flood sends from. */
  localAddress: string;
  /**
   * Requests per second the flood aims at, spread evenly (request n is not sent before n/rate s);
   * 0: each connection is written to again as soon as its requests were answered. A fixed rate
   * makes two floods at different servers cost the flood client the same; if the server answers
   * slower, it falls short.
   */
  rate: number;
  /**
   * Requests one connection has unanswered at most, written together when they are due together:
   * 1 is a client that waits for each answer; more lets a server read several requests per wake-up,
   * which costs it (jml or the floor alike) less per request and the flood client fewer writes.
   */
  pipeline: number;
}

export interface FloodReport {
  sent: number;
  /** Answers by HTTP status, or by error code for requests lost with their connection. */
  statuses: Record<string, number>;
  wallMs: number;
}

export type FloodProcessApi = {
  /** Lowers this process to `nice` (0-19) and answers the nice value its autogroup has now. */
  lower: (nice: number) => number;
  /** Starts flooding `target`; resolves once the connections are open. */
  begin: (target: FloodTarget) => Promise<void>;
  /** Requests of the running flood answered so far, by status. */
  progress: () => { sent: number; statuses: Record<string, number> };
  /** Stops once at least `atLeast` requests of this flood were answered; resolves with its figures. */
  end: (input: { atLeast: number }) => Promise<FloodReport>;
};

// The path of a SCIM filter read, query string and all (jml must tally the path without it).
const PATH = '/Users?filter=userName%20eq%20%22ada%40example.com%22';
// Every answer starts with its status line (RFC 9112 §4), and none of the bodies the flood gets
// (RFC 7644 error bodies) contains one: counting these counts the answers.
const STATUS_LINE = Buffer.from('HTTP/1.1 ');
const STATUS_LINE_AND_CODE = STATUS_LINE.length + 3;

interface Connection {
  socket: net.Socket;
  /** Requests written and not answered yet. */
  unanswered: number;
  /** The last bytes of the previous chunk, where a status line may have started. */
  carry: Buffer | undefined;
}

interface Running {
  target: FloodTarget;
  /** `batches[k]`: k requests, one write. */
  batches: Buffer[];
  connections: Connection[];
  /** The connection the next write goes to first (round robin). */
  cursor: number;
  statuses: Record<string, number>;
  /** Requests answered (or lost with their connection). */
  sent: number;
  /** Requests written. */
  written: number;
  atLeast: number;
  stopping: boolean;
  started: number;
  timer: NodeJS.Timeout | undefined;
  finished: () => void;
  done: Promise<void>;
}

let running: Running | undefined;

function record(flood: Running, status: string, count = 1): void {
  flood.sent += count;
  flood.statuses[status] = (flood.statuses[status] ?? 0) + count;
}

/** How many more requests may be written now: those due at the rate, and none past `atLeast` once stopping. */
function due(flood: Running): number {
  let more = flood.target.rate > 0 ? Math.floor(((performance.now() - flood.started) * flood.target.rate) / 1000) - flood.written : Number.POSITIVE_INFINITY;
  if (flood.stopping) more = Math.min(more, flood.atLeast - flood.written);
  return more;
}

/** Writes what is due to the connections with room (`only`, or all in turn), `pipeline` at most unanswered on each. */
function pump(flood: Running, only?: Connection): void {
  let more = due(flood);
  const { pipeline } = flood.target;
  const candidates = only ? [only] : flood.connections;
  const first = only ? 0 : flood.cursor;
  for (let tried = 0; more > 0 && tried < candidates.length; tried++) {
    const index = (first + tried) % candidates.length;
    const connection = candidates[index]!;
    const room = pipeline - connection.unanswered;
    if (room <= 0 || connection.socket.destroyed) continue;
    const count = Math.min(room, more);
    connection.socket.write(flood.batches[count]!);
    connection.unanswered += count;
    flood.written += count;
    more -= count;
    if (!only) flood.cursor = (index + 1) % candidates.length;
  }
  settle(flood);
}

/** Resolves end() once stopping, every request it wanted written, and all of them answered. */
function settle(flood: Running): void {
  if (flood.stopping && flood.written >= flood.atLeast && flood.sent >= flood.written) flood.finished();
}

/** Counts the status lines in a chunk of answers (one may straddle two chunks). */
function answered(flood: Running, connection: Connection, chunk: Buffer): void {
  const bytes = connection.carry ? Buffer.concat([connection.carry, chunk]) : chunk;
  let at = bytes.indexOf(STATUS_LINE);
  while (at >= 0 && at + STATUS_LINE_AND_CODE <= bytes.length) {
    record(flood, bytes.toString('latin1', at + STATUS_LINE.length, at + STATUS_LINE_AND_CODE));
    connection.unanswered -= 1;
    at = bytes.indexOf(STATUS_LINE, at + STATUS_LINE_AND_CODE);
  }
  // A status line counted above starts before the last 12 bytes; one that starts in them (at an
  // "H") is not counted yet, and is kept for the next chunk. Most chunks end with a body: none kept.
  const partial = bytes.indexOf(STATUS_LINE[0]!, Math.max(0, bytes.length - (STATUS_LINE_AND_CODE - 1)));
  connection.carry = partial < 0 ? undefined : Buffer.from(bytes.subarray(partial));
  if (flood.target.rate === 0) pump(flood, connection);
  else settle(flood);
}

function connect(flood: Running, port: number): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: flood.target.localAddress, noDelay: true });
    const connection: Connection = { socket, unanswered: 0, carry: undefined };
    let connected = false;
    let failure = 'closed';
    socket.once('connect', () => {
      connected = true;
      resolve(connection);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure = error.code ?? error.message;
      if (!connected) reject(error);
    });
    socket.on('data', (chunk: Buffer) => answered(flood, connection, chunk));
    // A connection the server closed: its unanswered requests are counted by the error (or as
    // "closed"), and the flood goes on over a new one.
    socket.once('close', () => {
      if (!connected) return;
      if (connection.unanswered > 0) record(flood, failure, connection.unanswered);
      connection.unanswered = 0;
      if (running !== flood || (flood.stopping && flood.written >= flood.atLeast)) return settle(flood);
      void connect(flood, port).then(
        (replacement) => {
          flood.connections[flood.connections.indexOf(connection)] = replacement;
          if (flood.target.rate === 0) pump(flood, replacement);
        },
        (error: NodeJS.ErrnoException) => record(flood, error.code ?? error.message, 0),
      );
    });
  });
}

const api: FloodProcessApi = {
  lower(nice) {
    lowerCpuPriority(process.pid, nice);
    return ownNice();
  },

  async begin(target) {
    if (running) throw new Error('a flood is running already');
    const url = new URL(target.url);
    if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1') throw new NonLoopbackTargetError(`the flood only goes to http://127.0.0.1, not to ${url.origin}`);
    if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(target.localAddress)) throw new NonLoopbackTargetError(`the flood only sends from a loopback address (127.0.0.0/8), not from ${target.localAddress}`);
    // A token of the right shape: the costliest wrong token to refuse.
    const token = `jml_scim_${randomBytes(32).toString('base64url')}`;
    const request = Buffer.from(
      `GET ${url.pathname.replace(/\/$/, '')}${PATH} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nAccept: application/scim+json\r\n\r\n`,
      'latin1',
    );
    const batches = Array.from({ length: target.pipeline + 1 }, (_, count) => Buffer.concat(Array<Buffer>(count).fill(request)));
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    const flood: Running = { target, batches, connections: [], cursor: 0, statuses: {}, sent: 0, written: 0, atLeast: 0, stopping: false, started: 0, timer: undefined, finished, done };
    running = flood;
    const opening = await Promise.allSettled(Array.from({ length: target.concurrency }, () => connect(flood, Number(url.port))));
    flood.connections = opening.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const refused = opening.find((result) => result.status === 'rejected');
    if (refused) {
      running = undefined;
      for (const connection of flood.connections) connection.socket.destroy();
      throw refused.reason;
    }
    flood.started = performance.now();
    if (target.rate > 0) {
      // A batch of `pipeline` requests falls due every pipeline/rate seconds; a late timer writes
      // what fell due meanwhile.
      const everyMs = Math.max(1, (target.pipeline * 1000) / target.rate);
      flood.timer = setInterval(() => pump(flood), everyMs);
    }
    pump(flood);
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
    pump(flood);
    await flood.done;
    clearInterval(flood.timer);
    running = undefined;
    for (const connection of flood.connections) connection.socket.destroy();
    return { sent: flood.sent, statuses: flood.statuses, wallMs: performance.now() - flood.started };
  },
};

serveParent(api, async () => {
  if (running) await api.end({ atLeast: 0 });
});
