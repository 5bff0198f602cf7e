// `jml simulate`: the three downstream simulators, standalone, for scripts and benchmarks.
import { SIMULATOR_CREDENTIALS, startSimulatorServer } from '../simulators/index.js';

export async function simulateCommand(options: { port: number }): Promise<number> {
  const server = await startSimulatorServer({ port: options.port, host: '127.0.0.1' });
  process.stdout.write(
    [
      'Simulators running:',
      `  rocketchat  ${server.urls.rocketchat}   (X-User-Id: ${SIMULATOR_CREDENTIALS.rocketchat.userId})`,
      `  mendix      ${server.urls.mendix}`,
      `  userapi     ${server.urls.userapi}`,
      `Each serves GET <url>/_sim/users, GET <url>/_sim/calls, POST <url>/_sim/users|faults|reset.`,
      '',
    ].join('\n'),
  );
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
