// The contract between the lifecycle activities and each downstream system's connector.

export const SYSTEMS = ['rocketchat', 'mendix', 'userapi'] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** What a connector may read of a person to find their account downstream. */
export interface IdentitySnapshot {
  id: string;
  userName: string;
  externalId: string | null;
  email: string | null;
  employeeNumber: string | null;
  /** The whole SCIM resource, for attribute mappings configured by the operator. */
  resource: Record<string, unknown>;
}

/** Per-call context: the idempotency key is stable across retries and workflow replays. */
export interface ActionContext {
  idempotencyKey: string;
  /** Reason recorded downstream where the API accepts one. */
  reason?: string;
}

export type ReactivateResult = 'reactivated' | 'unsupported';

export interface Connector {
  readonly system: SystemName;
  /**
   * Finds the person's account. Returns null when the system has no such account: that is an
   * outcome, recorded as such, not an error to retry.
   */
  resolveAccount(identity: IdentitySnapshot): Promise<string | null>;
  /** Disables the account. Resolves when the system confirmed it. */
  deactivate(accountId: string, context: ActionContext): Promise<void>;
  /** Enables the account again, or says the system cannot (Mendix). */
  reactivate(accountId: string, context: ActionContext): Promise<ReactivateResult>;
}
