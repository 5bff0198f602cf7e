// What each kind of token may do: the one place that decides it, for SCIM, the operator API, the
// pages and /metrics (docs/decisions/024-roles.md). A surface names the permission a route needs;
// it never compares token kinds itself.
import type { Principal, TokenKind } from './tokens.js';

export const PERMISSIONS = {
  provision: 'provision identities over SCIM',
  readEvents: 'list and read lifecycle events',
  actOnEvents: 'approve, reject and retry lifecycle events',
  changePeople: 'terminate a person at once and import HR changes',
  postHrEvents: 'post HR events to the webhook',
  readAudit: 'read the audit trail, evidence and reports',
  readMetrics: 'read metrics',
  manageTokens: 'create, list and revoke tokens',
  manageSettings: 'change settings',
} as const;

export type Permission = keyof typeof PERMISSIONS;

/**
 * scim: provisioning only. auditor: the record and the figures, nothing that changes anything.
 * operator: the events and the actions on them, with the record they need to decide (a person's
 * evidence before approving their release). admin: tokens and settings, no lifecycle power and
 * no reading of people's records. hr: an HR system's webhook deliveries, nothing else (it names
 * people and changes them only through POST /api/hr/events, signed as well; decision 026). No role
 * but scim provisions, and scim does nothing else.
 */
export const ROLE_PERMISSIONS: Record<TokenKind, readonly Permission[]> = {
  scim: ['provision'],
  auditor: ['readAudit', 'readMetrics'],
  operator: ['readEvents', 'actOnEvents', 'changePeople', 'readAudit', 'readMetrics'],
  admin: ['manageTokens', 'manageSettings'],
  hr: ['postHrEvents'],
};

export const TOKEN_KINDS = Object.keys(ROLE_PERMISSIONS) as TokenKind[];

export function can(principal: Pick<Principal, 'kind'>, permission: Permission): boolean {
  return ROLE_PERMISSIONS[principal.kind].includes(permission);
}

/** The 403 detail every surface sends: what was refused, and which roles may do it. */
export function forbiddenDetail(principal: Pick<Principal, 'kind' | 'name'>, permission: Permission): string {
  const roles = TOKEN_KINDS.filter((kind) => ROLE_PERMISSIONS[kind].includes(permission));
  return `The ${principal.kind} token "${principal.name}" may not ${PERMISSIONS[permission]}: that needs a token of kind ${roles.join(' or ')} (\`npx jml tokens create --name <you> --role ${roles[0] ?? 'admin'}\`)`;
}
