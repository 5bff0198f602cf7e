// freePort's ports must stay out of the kernel's ephemeral range: a port learnt by bind(0) and
// released can be taken by the next bind(0) anywhere on the machine (the Temporal dev server picks
// its internal ports that way) before our server listens on it, which CI saw as EADDRINUSE.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/infra/free-port.js';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

describe('freePort', () => {
  it('chooses ports below the ephemeral range, with room for a companion at +1000, never the same one twice', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 50; i += 1) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port + 1000).toBeLessThan(ephemeralLow);
  });

  it('hands out a port that can be listened on', async () => {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
