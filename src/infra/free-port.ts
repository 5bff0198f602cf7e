// A free TCP port on the loopback interface, for servers jml starts itself (embedded PostgreSQL,
// the Temporal dev server, tests). Its own module: importing it must not load the Temporal SDK
// (issue 17, the CLI's start-up cost).
import net from 'node:net';

/** Finds a free TCP port on loopback (for test servers that must not collide). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
