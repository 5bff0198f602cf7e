// `jml tokens create|list|revoke`: credentials for SCIM clients and operators.
import { createToken, listTokens, revokeToken } from '../auth/tokens.js';
import { userInfo } from 'node:os';
import type { Database } from '../db/client.js';

/** Who runs the command, for the audit trail: the OS user unless --as says otherwise. */
function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'cli';
  }
}

export async function tokensCommand(db: Database, args: { action: string; name?: string; operator: boolean; target?: string; as?: string }): Promise<number> {
  const actor = args.as ?? operatorName();
  switch (args.action) {
    case 'create': {
      if (!args.name) {
        process.stderr.write('Usage: jml tokens create --name <client> [--operator]\n');
        return 2;
      }
      const kind = args.operator ? 'operator' : 'scim';
      const { token, record } = await createToken(db, { name: args.name, kind, actor });
      process.stderr.write(`Created ${kind} token "${record.name}" (id ${record.id}). It is shown once; only its hash is stored.\n`);
      process.stdout.write(`${token}\n`);
      return 0;
    }
    case 'list': {
      const rows = await listTokens(db);
      for (const row of rows) {
        const state = row.revokedAt ? `revoked ${row.revokedAt.toISOString()}` : 'active';
        const used = row.lastUsedAt ? row.lastUsedAt.toISOString() : 'never';
        process.stdout.write(`${row.id}  ${row.kind.padEnd(8)}  ${row.name.padEnd(24)}  ${row.prefix}…  ${state}  last used ${used}\n`);
      }
      if (rows.length === 0) process.stdout.write('No tokens yet: jml tokens create --name <client>\n');
      return 0;
    }
    case 'revoke': {
      if (!args.target) {
        process.stderr.write('Usage: jml tokens revoke <id or name>\n');
        return 2;
      }
      const count = await revokeToken(db, args.target, actor);
      process.stdout.write(`Revoked ${count} token(s).\n`);
      return count > 0 ? 0 : 1;
    }
    default:
      process.stderr.write('Usage: jml tokens create|list|revoke\n');
      return 2;
  }
}
