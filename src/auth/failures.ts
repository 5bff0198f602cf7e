// Failed authentication must cost jml almost nothing, whoever sends it (issue 15). Two things
// happen in memory, before any token lookup or database work:
// - a budget of failures per client address: once spent, that address is answered 429 without
//   its token being looked at, until the budget refills (a token that verified recently from
//   anywhere still passes, so an attacker behind the same NAT cannot lock out the real client);
// - a tally of failures per time window, realm and address, written to the audit trail as ONE
//   `auth.failed` row per window and source with the count, the reasons and the paths (never the
//   query string: SCIM filters carry email addresses). A flood of wrong tokens adds a row a minute.
// Every map here is bounded and expires its entries, so no request pattern grows memory.
import { isIPv6 } from 'node:net';
import type { Request } from 'express';
import { LRUCache } from 'lru-cache';
import { appendAudit } from '../audit/append.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { hashSecret } from './tokens.js';

export interface AuthFailureGuardOptions {
  db: Database;
  logger: Logger;
  /** Length of one tally window; one audit row per window and source (default 1 min). */
  windowMs?: number;
  /** Failures an address may make at once, and how many it regains per second (default 20, 0.2). */
  burst?: number;
  perSecond?: number;
  /** Distinct sources tallied per window before the rest are counted together as "other" (default 100). */
  maxSources?: number;
  /** Client addresses whose budgets are remembered (default 10,000, least recently seen dropped). */
  maxAddresses?: number;
  now?: () => number;
}

/** Who tried to authenticate, and where: the path without its query string (filters carry emails). */
export interface Attempt {
  address: string | undefined;
  method: string;
  path: string;
}

export interface Admission {
  allowed: boolean;
  retryAfterSeconds: number;
  /**
   * The attempt was counted as a failure against its address's budget when it was admitted, before
   * its token was checked: failed() counts nothing more for it, and giveBack() returns it on success.
   */
  charged?: boolean;
}

interface Tally {
  realm: string;
  source: string;
  count: number;
  throttled: number;
  reasons: Record<string, number>;
  paths: Record<string, number>;
  first: number;
  last: number;
}

const MAX_PATHS = 10;
const MAX_REASONS = 10;
const OTHER = 'other';

/**
 * The address a budget is kept for. An IPv6 client usually holds a whole /64, so its budget is the
 * prefix's, or one host could take a fresh address per attempt.
 */
export function clientSource(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, '').toLowerCase()).join(':')}::/64`;
}

function bump(counts: Record<string, number>, key: string, limit: number): void {
  if (key in counts || Object.keys(counts).length < limit) counts[key] = (counts[key] ?? 0) + 1;
  else counts[OTHER] = (counts[OTHER] ?? 0) + 1;
}

export class AuthFailureGuard {
  private readonly windowMs: number;
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  private readonly budgets: LRUCache<string, { tokens: number; updated: number }>;
  /** Tokens that verified recently, by hash: they pass a spent budget (see the header). */
  private readonly trusted: LRUCache<string, true>;
  private tallies = new Map<string, Tally>();
  private windowStart: number;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: AuthFailureGuardOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.burst = options.burst ?? 20;
    this.perSecond = options.perSecond ?? 0.2;
    this.maxSources = options.maxSources ?? 100;
    this.now = options.now ?? Date.now;
    // An entry untouched until its budget is full again carries no information: it may expire.
    const refillMs = Math.ceil((this.burst / this.perSecond) * 1000);
    this.budgets = new LRUCache({ max: options.maxAddresses ?? 10_000, ttl: refillMs, ttlAutopurge: false });
    this.trusted = new LRUCache({ max: 1_000, ttl: 10 * 60_000 });
    this.windowStart = this.now();
    this.timer = setInterval(() => void this.flush(), this.windowMs);
    this.timer.unref();
  }

  /**
   * May this request try to authenticate? Costs a map lookup (and a hash when the budget is spent).
   * An admitted attempt is charged one failure at once, while its token is checked: attempts in
   * flight together never exceed the budget, however many arrive before the first is answered
   * (without this, each refill let through as many wrong tokens as were waiting). The caller gives
   * the charge back when the token verifies (giveBack) and passes the admission to failed().
   */
  admit(req: Request, token: string | undefined): Admission {
    const source = clientSource(req.ip);
    const budget = this.refilled(source);
    if (!budget) {
      this.budgets.set(source, { tokens: this.burst - 1, updated: this.now() });
      return { allowed: true, retryAfterSeconds: 0, charged: true };
    }
    if (budget.tokens >= 1) {
      budget.tokens -= 1;
      // Set again: an entry's time to live counts from its last change (see the constructor).
      this.budgets.set(source, budget);
      return { allowed: true, retryAfterSeconds: 0, charged: true };
    }
    return this.admitSpent(budget, token);
  }

  /**
   * Returns the failure an admission charged: its token verified, or could not be checked (the
   * database was down), which is no failure of the client's. A budget that is full again is
   * forgotten, as it would expire.
   */
  giveBack(req: Request, admission: Admission): void {
    if (!admission.charged) return;
    const source = clientSource(req.ip);
    const budget = this.refilled(source);
    if (!budget) return;
    budget.tokens += 1;
    if (budget.tokens >= this.burst) this.budgets.delete(source);
    else this.budgets.set(source, budget);
  }

  /**
   * admit() and failed() at once, for the HTTP server's front door (src/app.ts), which refuses a
   * spent address before express sees the request: answers whether the attempt may go on, and
   * when it may not, counts it as throttled in this window's tally.
   */
  throttled(attempt: Attempt, realm: string, token: string | undefined): Admission {
    const source = clientSource(attempt.address);
    const admission = this.admitSource(source, token);
    if (!admission.allowed) this.tally(source, attempt, realm, 'too many failures from this address', true);
    return admission;
  }

  /** A token that verified: it passes even a spent budget from now on. */
  succeeded(token: string): void {
    this.trusted.set(hashSecret(token), true);
  }

  /**
   * Counts one failure (refused or throttled) against the address and in this window's tally; an
   * attempt whose admission was already charged (`admission`) or that was throttled costs the
   * budget nothing more.
   */
  failed(req: Request, realm: string, reason: string, options: { throttled?: boolean; admission?: Admission } = {}): void {
    const source = clientSource(req.ip);
    if (!options.throttled && !options.admission?.charged) {
      const budget = this.refilled(source) ?? { tokens: this.burst, updated: this.now() };
      budget.tokens = Math.max(0, budget.tokens - 1);
      this.budgets.set(source, budget);
    }
    // req.path never includes the query string; baseUrl puts back where the router is mounted.
    this.tally(source, { address: req.ip, method: req.method, path: `${req.baseUrl}${req.path}` }, realm, reason, options.throttled ?? false);
  }

  /**
   * Writes this window's tallies, one `auth.failed` row per realm and source, and starts a new
   * window. Never throws: a database that cannot take the rows is logged, not turned into errors.
   */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Stops the window timer and writes what is tallied. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    const tallies = [...this.tallies.values()];
    const windowStart = this.windowStart;
    this.tallies = new Map();
    this.windowStart = this.now();
    if (tallies.length === 0) return;
    const rows = tallies.map((tally) => ({
      actor: 'anonymous',
      action: 'auth.failed',
      data: {
        realm: tally.realm,
        ip: tally.source,
        count: tally.count,
        throttled: tally.throttled,
        reasons: tally.reasons,
        paths: tally.paths,
        windowStart: new Date(windowStart).toISOString(),
        first: new Date(tally.first).toISOString(),
        last: new Date(tally.last).toISOString(),
      },
    }));
    await this.options.db
      .$transaction((tx) => appendAudit(tx, rows))
      .catch((error: unknown) => this.options.logger.warn({ err: error, failures: tallies.reduce((sum, tally) => sum + tally.count, 0) }, 'could not audit failed authentications'));
  }

  /** The front door's look: charges nothing, since express's surface admits the attempt again. */
  private admitSource(source: string, token: string | undefined): Admission {
    const budget = this.refilled(source);
    if (!budget || budget.tokens >= 1) return { allowed: true, retryAfterSeconds: 0 };
    return this.admitSpent(budget, token);
  }

  /** A spent budget: only a token that verified recently passes (see the header), uncharged. */
  private admitSpent(budget: { tokens: number }, token: string | undefined): Admission {
    if (token && this.trusted.has(hashSecret(token))) return { allowed: true, retryAfterSeconds: 0, charged: false };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - budget.tokens) / this.perSecond)) };
  }

  private tally(source: string, attempt: Attempt, realm: string, reason: string, throttled: boolean): void {
    const now = this.now();
    let key = `${realm}\u0000${source}`;
    if (!this.tallies.has(key) && this.tallies.size >= this.maxSources) key = `${realm}\u0000${OTHER}`;
    const tally = this.tallies.get(key) ?? { realm, source: key.endsWith(OTHER) ? OTHER : source, count: 0, throttled: 0, reasons: {}, paths: {}, first: now, last: now };
    tally.count += 1;
    if (throttled) tally.throttled += 1;
    tally.last = now;
    bump(tally.reasons, reason, MAX_REASONS);
    bump(tally.paths, `${attempt.method} ${attempt.path.slice(0, 200)}`, MAX_PATHS);
    this.tallies.set(key, tally);
  }

  private refilled(source: string): { tokens: number; updated: number } | undefined {
    const budget = this.budgets.get(source);
    if (!budget) return undefined;
    const now = this.now();
    budget.tokens = Math.min(this.burst, budget.tokens + ((now - budget.updated) / 1000) * this.perSecond);
    budget.updated = now;
    return budget;
  }
}
