// GET /Groups with filter, sort and paging (RFC 7644 §3.4.2), answered by PostgreSQL.
import type { Database } from '../../db/client.js';
import { GROUP_ATTRIBUTES } from './group-attributes.js';
import { listLiveIds, type IdentityListPage, type IdentityListQuery, type ListSource } from './list.js';

const GROUPS: ListSource = { table: 'scim_group', attributes: GROUP_ATTRIBUTES };

/** The ids of one page of live groups matching the query, in order, and how many match in all. */
export function listGroupIds(db: Database, query: IdentityListQuery = {}): Promise<IdentityListPage> {
  return listLiveIds(db, GROUPS, query);
}
