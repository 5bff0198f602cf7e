// Matches one listed page of a system's accounts to jml's identities in one statement: first by the
// account jml already resolved for the person (account_link), then by the connector's lookup
// attribute, compared the way the lookup compares it. The page is the unit of memory: nothing here
// holds more than one page (docs/decisions/022-reconciliation.md).
import { sqlOf } from '../db/sql.js';
import type { Database } from '../db/client.js';
import type { ListedAccount, SystemName } from '../connectors/types.js';

/** The lookup names a SCIM path: matching it would mean reading every identity's JSON per page. */
export class LookupNotMatchable extends Error {
  override readonly name = 'LookupNotMatchable';
}

// RFC 7643 §4.1: userName and emails are compared ignoring case (caseExact false); externalId is
// caseExact. The column expressions have indexes (migration 20261202400000_reconciliation).
const MATCH_BY: Record<string, string> = {
  userName: 'lower(i.user_name) = lower(k.key)',
  email: 'lower(i.email) = lower(k.key)',
  externalId: 'i.external_id = k.key',
  employeeNumber: 'i.employee_number = k.key',
  id: "i.id = CASE WHEN k.key ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN k.key::uuid END",
};

export interface AccountMatch {
  /** Index of the account in the page. */
  index: number;
  identityId: string;
  /** False for a leaver: inactive, deleted, or past a termination date. */
  personActive: boolean;
}

export function matchStatement(attribute: string | undefined): string {
  const condition = MATCH_BY[attribute ?? ''];
  if (!condition) {
    throw new LookupNotMatchable(
      `reconciliation matches accounts on userName, email, externalId, employeeNumber or id; this system's lookup reads ${attribute ?? 'an unknown attribute'}`,
    );
  }
  // A live identity wins over a deleted one with the same key; a link wins over a key.
  return `
    WITH page AS (SELECT * FROM unnest($1::text[]) WITH ORDINALITY AS p(account_id, n)),
    keys AS (SELECT * FROM unnest($2::int[], $3::text[]) AS k(n, key)),
    candidates AS (
      SELECT p.n, l.identity_id, 0 AS rank FROM page p JOIN account_link l ON l.system = $4 AND l.account_id = p.account_id
      UNION ALL
      SELECT k.n, i.id, 1 FROM keys k JOIN identity i ON ${condition})
    SELECT DISTINCT ON (c.n) (c.n - 1)::int AS index, i.id AS "identityId",
      (i.active AND i.deleted_at IS NULL AND (i.termination_date IS NULL OR i.termination_date > $5)) AS "personActive"
    FROM candidates c JOIN identity i ON i.id = c.identity_id
    ORDER BY c.n, c.rank, (i.deleted_at IS NULL) DESC, i.updated_at DESC`;
}

export async function matchPage(db: Database, statement: string, system: SystemName, page: readonly ListedAccount[], now: Date): Promise<AccountMatch[]> {
  const keyIndexes: number[] = [];
  const keys: string[] = [];
  page.forEach((account, index) => {
    for (const key of account.keys) {
      keyIndexes.push(index + 1);
      keys.push(key);
    }
  });
  return sqlOf(db).query<AccountMatch>(statement, [page.map((account) => account.accountId), keyIndexes, keys, system, now]);
}
