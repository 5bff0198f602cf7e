// `jml tokens create|list|revoke|profile`: credentials for SCIM clients, auditors, operators and admins.
import { TOKEN_KINDS } from '../auth/roles.js';
import { createToken, listTokens, revokeToken, setTokenProfile, type TokenKind } from '../auth/tokens.js';
import { CLIENT_PROFILES, isClientProfile } from '../scim/dialect/profiles.js';
import { userInfo } from 'node:os';
import type { Database } from '../db/client.js';

/** Who runs the command, for the audit trail: the OS user unless --as says otherwise. */
export function operatorName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'cli';
  }
}

export async function tokensCommand(db: Database, args: { action: string; name?: string; operator: boolean; role?: string; target?: string; as?: string; profile?: string }): Promise<number> {
  const actor = args.as ?? operatorName();
  const profiles = CLIENT_PROFILES.join(', ');
  if (args.profile !== undefined && !isClientProfile(args.profile)) {
    process.stderr.write(`Unknown profile "${args.profile}": use one of ${profiles}\n`);
    return 2;
  }
  const profile = isClientProfile(args.profile) ? args.profile : undefined;
  switch (args.action) {
    case 'create': {
      if (!args.name) {
        process.stderr.write(`Usage: jml tokens create --name <client> [--role ${TOKEN_KINDS.join('|')}] [--profile ${CLIENT_PROFILES.join('|')}]\n`);
        return 2;
      }
      const kind = args.role ?? (args.operator ? 'operator' : 'scim');
      if (!TOKEN_KINDS.includes(kind as TokenKind)) {
        process.stderr.write(`Unknown role "${kind}": one of ${TOKEN_KINDS.join(', ')} (src/auth/roles.ts says what each may do)\n`);
        return 2;
      }
      const { token, record } = await createToken(db, { name: args.name, kind: kind as TokenKind, actor, profile });
      const described = kind === 'scim' ? ` with profile ${record.profile}` : '';
      process.stderr.write(`Created ${kind} token "${record.name}"${described} (id ${record.id}). It is shown once; only its hash is stored.\n`);
      process.stdout.write(`${token}\n`);
      return 0;
    }
    case 'list': {
      const rows = await listTokens(db);
      for (const row of rows) {
        const state = row.revokedAt ? `revoked ${row.revokedAt.toISOString()}` : 'active';
        const used = row.lastUsedAt ? row.lastUsedAt.toISOString() : 'never';
        const shownProfile = row.kind === 'scim' ? row.profile : '';
        process.stdout.write(`${row.id}  ${row.kind.padEnd(8)}  ${row.name.padEnd(24)}  ${shownProfile.padEnd(9)}  ${row.prefix}…  ${state}  last used ${used}\n`);
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
    case 'profile': {
      if (!args.target || !profile) {
        process.stderr.write(`Usage: jml tokens profile <id or name> <${CLIENT_PROFILES.join('|')}>\n`);
        return 2;
      }
      const count = await setTokenProfile(db, args.target, profile, actor);
      process.stdout.write(`Changed the profile of ${count} SCIM token(s) to ${profile}.\n`);
      return count > 0 ? 0 : 1;
    }
    default:
      process.stderr.write('Usage: jml tokens create|list|revoke|profile\n');
      return 2;
  }
}
