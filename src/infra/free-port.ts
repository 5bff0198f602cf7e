// A free TCP port on the loopback interface, for servers jml starts itself (embedded PostgreSQL,
// the Temporal dev server, tests). Its own module: importing it must not load the Temporal SDK
// (issue 17, the CLI's start-up cost).
//
// Why not simply bind port 0: the kernel hands out ports from its ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 on Linux), and it hands the same range to
// every other bind(0) and every outgoing connection on the machine. A port learnt that way and
// released is free to be taken again before our server listens on it: CI saw `npm start` with
// PORT from bind(0) fail with EADDRINUSE four times in a row, the port held by a listener (likeliest
// the Temporal dev server, which picks its internal services' ports by bind(0) while jml's
// processes start; which process it was went unrecorded). A port
// below the ephemeral range is never assigned by the kernel, so only another explicit choice can
// take it; choosing at random and never handing the same port out twice in one process keeps
// those apart.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Lowest port chosen: above the registered services people commonly run on a development machine. */
const LOWEST = 15_000;
/** Callers put companions at their port + 1000 (the Temporal dev server's web UI); keep those below the ephemeral range too. */
const COMPANION_SPAN = 1_000;
/** IANA's dynamic range, the ephemeral range of macOS and Windows. */
const IANA_EPHEMERAL_LOW = 49_152;
const ATTEMPTS = 200;

const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (Linux), or IANA's where the kernel does not say. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : IANA_EPHEMERAL_LOW;
  } catch {
    return IANA_EPHEMERAL_LOW;
  }
}

function listenable(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}

/** A free loopback TCP port that the kernel will not hand to anybody else's bind(0) or connect. */
export async function freePort(): Promise<number> {
  const highest = ephemeralLow() - 1 - COMPANION_SPAN;
  if (highest - LOWEST >= 1_000) {
    for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
      const port = LOWEST + Math.floor(Math.random() * (highest - LOWEST + 1));
      if (handedOut.has(port)) continue;
      if ((await listenable(port)) === port) {
        handedOut.add(port);
        return port;
      }
    }
  }
  // A kernel whose ephemeral range starts low leaves no room below it: fall back to its choice.
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    const port = await listenable(0);
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free TCP port on 127.0.0.1');
}
