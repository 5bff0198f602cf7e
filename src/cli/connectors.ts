// `jml connectors check [--user <userName or id>]`: tries each configured lookup against a person
// jml knows and says plainly when it finds nobody (src/connectors/check.ts). Read-only.
import { checkLookups, identityToCheck, lookupCheckText } from '../connectors/check.js';
import { createConnectors, parseConnectorsConfig, type EnvironmentLike } from '../connectors/config.js';
import type { Connector, SystemName } from '../connectors/types.js';
import type { Database } from '../db/client.js';
import type { Output } from './events.js';

export const CONNECTORS_USAGE = `Usage: jml connectors check [--user <userName or id>] [--json]
  Looks one person up in every configured system (default: the newest active identity), changes nothing.
`;

const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Exit codes: 0 every lookup found the person, 1 some found nobody or failed, 2 bad arguments or nobody to check. */
export async function connectorsCommand(
  db: Database,
  args: { action: string; user?: string; json?: boolean; env: EnvironmentLike; connectors?: Partial<Record<SystemName, Connector>> },
  io: Output = processOutput,
): Promise<number> {
  if (args.action !== 'check') {
    io.err(CONNECTORS_USAGE);
    return 2;
  }
  const connectors = args.connectors ?? createConnectors(parseConnectorsConfig(args.env));
  const identity = await identityToCheck(db, args.user);
  if (!identity) {
    io.err(args.user ? `No identity ${args.user}.\n` : 'jml knows no active identity yet: name one with --user once your identity provider has sent some.\n');
    return 2;
  }
  const checks = await checkLookups(connectors, identity);
  io.out(args.json ? `${JSON.stringify({ identity: { id: identity.id, userName: identity.userName }, checks }, null, 2)}\n` : lookupCheckText(identity, checks));
  return checks.every((check) => check.outcome === 'found') ? 0 : 1;
}
