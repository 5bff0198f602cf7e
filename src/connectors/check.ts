// `jml connectors check` and the start-up check: each configured lookup tried against a person jml
// knows, read-only, so that a wrong USERAPI_ID_ATTRIBUTE or ROCKETCHAT_LOOKUP shows up before the
// first leaver is recorded as "not found" everywhere (issue 14). Nothing is changed downstream:
// only users.info, Mendix's POST /v1/uuids (a lookup) and the user API's GET /v1/users/{id} are called.
import type { Database } from '../db/client.js';
import { isDownstreamError } from './errors.js';
import type { Connector, IdentitySnapshot, SystemName } from './types.js';

export interface LookupCheck {
  system: SystemName;
  /** The setting that decides the lookup, with its value. */
  lookup: string;
  outcome: 'found' | 'not_found' | 'error';
  accountId: string | null;
  /** What the read shows, where the vendor documents one. */
  active: boolean | null;
  message: string;
}

/** Tries every connector's lookup for one person; never throws for a system's failure. */
export async function checkLookups(connectors: Partial<Record<SystemName, Connector>>, identity: IdentitySnapshot): Promise<LookupCheck[]> {
  const checks: LookupCheck[] = [];
  for (const connector of Object.values(connectors)) {
    const base = { system: connector.system, lookup: connector.lookup, accountId: null, active: null };
    const value = connector.lookupValueOf(identity);
    if (value === null) {
      checks.push({ ...base, outcome: 'not_found', message: `${identity.userName} has no value for ${connector.lookup}: no account can be found for anyone like them; check that setting` });
      continue;
    }
    try {
      const accountId = await connector.resolveAccount(identity);
      // The user API needs no lookup call (the id is an attribute): only its read says whether it exists.
      const state = accountId !== null && connector.readAccount ? await connector.readAccount(accountId) : undefined;
      if (accountId === null || state === null) {
        checks.push({ ...base, outcome: 'not_found', message: `found NOBODY for ${identity.userName} by ${connector.lookup} (value "${value}"): check that setting` });
        continue;
      }
      const active = state?.active ?? null;
      checks.push({ ...base, outcome: 'found', accountId, active, message: `found account ${accountId}${active === null ? '' : active ? ' (active)' : ' (inactive)'} by ${connector.lookup}` });
    } catch (error) {
      if (!isDownstreamError(error)) throw error;
      checks.push({ ...base, outcome: 'error', message: error.message });
    }
  }
  return checks;
}

/**
 * The person to check against: the one named (userName, case-insensitive, or id), else the most
 * recently created active identity. Null when jml knows nobody yet.
 */
export async function identityToCheck(db: Database, subject?: string): Promise<IdentitySnapshot | null> {
  const select = { id: true, userName: true, externalId: true, email: true, employeeNumber: true, resource: true } as const;
  const uuid = subject && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(subject);
  const row = subject
    ? await db.identity.findFirst({ where: uuid ? { id: subject } : { userName: { equals: subject, mode: 'insensitive' } }, select })
    : await db.identity.findFirst({ where: { active: true, deletedAt: null }, orderBy: { createdAt: 'desc' }, select });
  return row ? { ...row, resource: row.resource as Record<string, unknown> } : null;
}

export function lookupCheckText(identity: IdentitySnapshot, checks: LookupCheck[]): string {
  const lines = [`Lookups tried for ${identity.userName} (${identity.id}); nothing was changed:`];
  for (const check of checks) lines.push(`  ${check.system.padEnd(10)} ${check.outcome === 'found' ? 'ok       ' : check.outcome === 'not_found' ? 'NOT FOUND' : 'ERROR    '} ${check.message}`);
  if (checks.length === 0) lines.push('  no downstream system is configured');
  return `${lines.join('\n')}\n`;
}
