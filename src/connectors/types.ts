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

/**
 * What the evidence says of a change a vendor accepted but documents no read for (Mendix's User
 * Deactivation API): exactly this, never "verified".
 */
export const NO_READ_API = 'accepted by the vendor, no read API to verify';

/** Whether each system's vendor documents a read of one account (the read-back's source). */
export const DOCUMENTED_READ: Record<SystemName, boolean> = { rocketchat: true, mendix: false, userapi: true };

export type ReactivateResult = 'reactivated' | 'unsupported';

/** An account as the system's documented read shows it. */
export interface AccountState {
  accountId: string;
  active: boolean;
}

/** One account of a system's documented listing, with the values jml's lookup matches on. */
export interface ListedAccount extends AccountState {
  /** The values an identity's lookup value is compared with (a username, the emails, the id). */
  keys: string[];
  /** Rocket.Chat only, when shown: what users.deactivateIdle selects by (its idle-sweep preview). */
  roles?: string[];
  lastLogin?: string | null;
}

export interface ListAccountsOptions {
  /** Entries per page, within the vendor's maximum. */
  pageSize?: number;
  /**
   * Told the listing's total (every account the vendor has) with each page: what the whole listing
   * will cost in calls, for a caller that may stop and read accounts one by one instead.
   */
  onTotal?: (total: number) => void;
}

/** The most entries a page answers: Rocket.Chat's users.list (API_Upper_Count_Limit's default) and Weavr's list endpoints. */
export const LIST_PAGE_MAX = 100;

/** People a batched lookup asks for in one call: Mendix publishes no maximum, so a page's worth. */
export const BATCH_LOOKUP_MAX = 100;

export interface Connector {
  readonly system: SystemName;
  /**
   * The setting that decides how this system's accounts are found, with its value (e.g.
   * `USERAPI_ID_ATTRIBUTE=externalId`): named in every "account not found", since a wrong one
   * makes every person look absent.
   */
  readonly lookup: string;
  /**
   * Finds the person's account. Returns null when the system has no such account: that is the
   * outcome `not_found`, recorded as such (never as deactivated), not an error to retry.
   */
  resolveAccount(identity: IdentitySnapshot): Promise<string | null>;
  /**
   * Finds the accounts of several people in one call, where the vendor documents such a call
   * (Mendix's POST /v1/uuids takes many addresses): by identity id, the account or null when the
   * vendor's answer says it has none for that person, as resolveAccount would. At most
   * BATCH_LOOKUP_MAX people a call.
   */
  resolveAccounts?(identities: IdentitySnapshot[]): Promise<Map<string, string | null>>;
  /** Disables the account. Resolves when the system accepted it; AccountNotFoundError when it knows no such account. */
  deactivate(accountId: string, context: ActionContext): Promise<void>;
  /** Enables the account again, or says the system cannot (Mendix). */
  reactivate(accountId: string, context: ActionContext): Promise<ReactivateResult>;
  /**
   * Reads the account back where the vendor documents a read (Rocket.Chat users.info, the user
   * API's user resource); null when the system knows no such account. Absent where the vendor
   * documents none (Mendix): an action there can be accepted, never verified.
   */
  readAccount?(accountId: string): Promise<AccountState | null>;
  /** Every account, one page at a time, where the vendor documents a listing; absent elsewhere. */
  listAccounts?(options?: ListAccountsOptions): AsyncGenerator<ListedAccount[]>;
  /** The value this person's account is looked up by (what listAccounts' keys are compared with). */
  lookupValueOf(identity: IdentitySnapshot): string | null;
  /**
   * The identity attribute lookupValueOf reads, as configured (`userName`, `externalId`, a SCIM
   * path): reconciliation matches a listed page against it in the database, not person by person.
   */
  readonly lookupAttribute?: string;
  /**
   * Which of the vendor's rate-limit counts each kind of call is counted against: calls under one
   * name share one pace in the worker (src/connectors/pace.ts, decision 064); null: that kind makes
   * no call. Absent: every call counts against one count for the system (`list` absent: each page
   * of listAccounts counts against the system's one count).
   */
  readonly rateLimitCounts?: Readonly<Record<'lookup' | 'read' | 'write', string | null> & { list?: string | null }>;
}
