// `jml oauth create|list|secret|revoke`: OAuth 2.0 clients that get SCIM access tokens from
// POST /oauth/token (client credentials, RFC 6749 §4.4).
import { addClientSecret, createOAuthClient, listOAuthClients, revokeClientSecret, revokeOAuthClient } from '../auth/oauth-clients.js';
import type { Database } from '../db/client.js';
import { CLIENT_PROFILES, isClientProfile } from '../scim/dialect/index.js';

const USAGE = `Usage:
  jml oauth create --name <client> [--profile ${CLIENT_PROFILES.join('|')}]   a client id and its first secret, printed once
  jml oauth list                                          clients and their secrets' prefixes, never secrets
  jml oauth secret add <client id or name>                another secret, for rotation
  jml oauth secret revoke <secret id or prefix>           its access tokens stop working at once
  jml oauth revoke <client id or name>                    the client, every secret and token
`;

export async function oauthCommand(db: Database, args: { action: string; target?: string; extra?: string; name?: string; profile?: string; actor: string }): Promise<number> {
  if (args.profile !== undefined && !isClientProfile(args.profile)) {
    process.stderr.write(`Unknown profile "${args.profile}": use one of ${CLIENT_PROFILES.join(', ')}\n`);
    return 2;
  }
  const profile = isClientProfile(args.profile) ? args.profile : undefined;
  switch (args.action) {
    case 'create': {
      if (!args.name) break;
      const created = await createOAuthClient(db, { name: args.name, profile, actor: args.actor });
      process.stderr.write(`Created OAuth client "${args.name}" with profile ${created.client.profile}. The secret is shown once; only its hash is stored.\n`);
      process.stdout.write(`client_id=${created.clientId}\nclient_secret=${created.secret}\n`);
      return 0;
    }
    case 'list': {
      const clients = await listOAuthClients(db);
      for (const client of clients) {
        const state = client.revokedAt ? `revoked ${client.revokedAt.toISOString()}` : 'active';
        process.stdout.write(`${client.clientId}  ${client.name.padEnd(24)}  ${client.profile.padEnd(9)}  ${state}\n`);
        for (const secret of client.secrets) {
          const secretState = secret.revokedAt ? `revoked ${secret.revokedAt.toISOString()}` : 'active';
          process.stdout.write(`    secret ${secret.id}  ${secret.prefix}…  ${secretState}  last used ${secret.lastUsedAt?.toISOString() ?? 'never'}\n`);
        }
      }
      if (clients.length === 0) process.stdout.write('No OAuth clients yet: jml oauth create --name <client>\n');
      return 0;
    }
    case 'secret': {
      if (args.target === 'add' && args.extra) {
        const added = await addClientSecret(db, args.extra, args.actor);
        if (!added) {
          process.stderr.write(`No active OAuth client "${args.extra}"\n`);
          return 1;
        }
        process.stderr.write(`Added a secret (id ${added.secretId}); revoke the old one once the client uses this one.\n`);
        process.stdout.write(`client_id=${added.clientId}\nclient_secret=${added.secret}\n`);
        return 0;
      }
      if (args.target === 'revoke' && args.extra) {
        const count = await revokeClientSecret(db, args.extra, args.actor);
        process.stdout.write(`Revoked ${count} secret(s).\n`);
        return count > 0 ? 0 : 1;
      }
      break;
    }
    case 'revoke': {
      if (!args.target) break;
      const count = await revokeOAuthClient(db, args.target, args.actor);
      process.stdout.write(`Revoked ${count} OAuth client(s).\n`);
      return count > 0 ? 0 : 1;
    }
  }
  process.stderr.write(USAGE);
  return 2;
}
