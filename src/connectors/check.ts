// `jml connectors check` and the start-up check: each configured lookup tried against a person jml
// knows, read-only, so that a wrong USERAPI_ID_ATTRIBUTE or ROCKETCHAT_LOOKUP shows up before the
// first leaver is recorded as "not found" everywhere (issue 14). Nothing is changed downstream:
// only users.info, Mendix's POST /v1/uuids (a lookup) and the user API's GET /v1/users/{id} are called.
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
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

/**
 * The person the start-up check looks up in one system: the active identity whose account there
 * jml resolved most recently (so they had one, and a setting changed since shows), else the newest
 * active identity. Null when jml knows no active identity yet.
 */
async function identityToCheckIn(db: Database, system: SystemName): Promise<IdentitySnapshot | null> {
  const select = { id: true, userName: true, externalId: true, email: true, employeeNumber: true, resource: true } as const;
  const link = await db.accountLink.findFirst({
    where: { system, identity: { active: true, deletedAt: null } },
    orderBy: { resolvedAt: 'desc' },
    select: { identity: { select } },
  });
  if (link) return { ...link.identity, resource: link.identity.resource as Record<string, unknown> };
  return identityToCheck(db);
}

/**
 * The worker's start-up check (issue 14): each configured lookup tried once against a person jml
 * knows, read-only, with one warning per system that finds nobody, naming the setting. It never
 * fails the start: a system that does not answer is a warning too, and the leavers' own
 * not-found alarm (decision 021) still stands behind it.
 */
export async function checkLookupsAtStart(db: Database, connectors: Partial<Record<SystemName, Connector>>, log: Logger): Promise<LookupCheck[]> {
  const checks: LookupCheck[] = [];
  for (const connector of Object.values(connectors)) {
    const identity = await identityToCheckIn(db, connector.system);
    if (!identity) {
      log.info('connector lookups not checked at start: jml knows no active identity yet (run `npx jml connectors check` once people have arrived)');
      return checks;
    }
    const [check] = await checkLookups({ [connector.system]: connector }, identity);
    if (!check) continue;
    checks.push(check);
    const fields = { system: check.system, lookup: check.lookup, userName: identity.userName, identityId: identity.id };
    if (check.outcome === 'not_found') {
      log.warn(
        fields,
        `${check.system} lookup FINDS NOBODY at start: ${check.message}. If ${identity.userName} has an account in ${check.system}, ${check.lookup} is wrong and every leaver there will be recorded not_found: change it and run \`npx jml connectors check --user ${identity.userName}\`. Nothing was changed.`,
      );
    } else if (check.outcome === 'error') {
      log.warn(fields, `${check.system} lookup could not be tried at start (${check.lookup}): ${check.message}. Nothing was changed; \`npx jml connectors check\` tries again.`);
    } else {
      log.info(fields, `${check.system} lookup checked at start: ${check.message} for ${identity.userName}`);
    }
  }
  return checks;
}

export function lookupCheckText(identity: IdentitySnapshot, checks: LookupCheck[]): string {
  const lines = [`Lookups tried for ${identity.userName} (${identity.id}); nothing was changed:`];
  for (const check of checks) lines.push(`  ${check.system.padEnd(10)} ${check.outcome === 'found' ? 'ok       ' : check.outcome === 'not_found' ? 'NOT FOUND' : 'ERROR    '} ${check.message}`);
  if (checks.length === 0) lines.push('  no downstream system is configured');
  return `${lines.join('\n')}\n`;
}
