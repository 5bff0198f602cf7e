// One pace per vendor rate-limit count in the worker process (docs/decisions/064): every call a
// mass-release page makes to a system (its accounts, ten at a time, and every other page's) takes
// the next slot of the count the vendor counts it against, so the process calls a vendor at
// JML_RATE_LIMIT_<SYSTEM> however many pages run. Temporal's per-queue limit (decision 005)
// counts activities, and a page of 50 accounts is one. Per-leaver activities, which that limit
// does pace, send at once and are counted in the same pace.
//
// A 429 moves the pace, not only the call that got it: no call of that count goes out before the
// vendor's hint (Retry-After, Rocket.Chat's X-RateLimit-Reset), and the pace slows by 5 %,
// because calls spaced exactly at a fixed-window vendor's limit still meet its window edges.
import { setTimeout as sleep } from 'node:timers/promises';
import { RetryableDownstreamError } from './errors.js';
import type { Connector, ListAccountsOptions, ListedAccount, SystemName } from './types.js';

/** Without a vendor hint (Mendix sends none): the first pause, doubled for each refusal in a row. */
export const UNHINTED_PAUSE_MS = 1000;
const MAX_UNHINTED_PAUSE_MS = 30_000;
/** Each fresh 429 slows the pace by this factor, up to MAX_SLOWDOWN. */
const SLOWDOWN_STEP = 1.05;
const MAX_SLOWDOWN = 4;
/** A pace that met no 429 for this long goes back to the configured rate (the vendor's count may have been shared for a while). */
const SLOWDOWN_RESET_MS = 5 * 60_000;

/** A vendor's 429: what a pace reacts to. */
export function isRateLimitAnswer(error: unknown): error is RetryableDownstreamError {
  return error instanceof RetryableDownstreamError && error.status === 429;
}

export class CallPace {
  /** The earliest moment the next call may go (slots are spaced intervalMs × slowdown apart). */
  private next = 0;
  /** No call before this (a vendor's hint after a 429). */
  private pausedUntil = 0;
  /** When the latest pause began: a 429 to a call admitted before it was sent before the pace knew. */
  private pausedAt = Number.NEGATIVE_INFINITY;
  private refusalsInARow = 0;
  private slowdown = 1;
  private lastRefusalAt = Number.NEGATIVE_INFINITY;

  /** `intervalMs` 0: no configured rate; the pace then only honours pauses. */
  constructor(
    readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Waits for this call's slot; resolves with the slot (the moment it was admitted). */
  async take(): Promise<number> {
    for (;;) {
      const now = this.now();
      if (this.slowdown > 1 && now - this.lastRefusalAt > SLOWDOWN_RESET_MS) this.slowdown = 1;
      const at = Math.max(now, this.next, this.pausedUntil);
      this.next = at + this.intervalMs * this.slowdown;
      if (at > now) await sleep(at - now);
      // A 429 while this call waited: it takes a slot after the pause instead.
      if (this.pausedUntil <= Math.max(at, this.now())) return at;
    }
  }

  /**
   * A call that goes now without waiting for its slot (a per-leaver activity, already paced by
   * Temporal's per-queue limit and bound to a one-minute attempt): the slots after it move on by
   * one, so the pages that wait leave it room. Resolves with the moment it was admitted.
   */
  note(): number {
    const now = this.now();
    this.next = Math.max(this.next, now) + this.intervalMs * this.slowdown;
    return now;
  }

  /** The call admitted at `admittedAt` was answered (anything but a 429). */
  answered(): void {
    this.refusalsInARow = 0;
  }

  /**
   * The call admitted at `admittedAt` got a 429 with the vendor's hint (undefined: none). Returns
   * how long the count is paused from now. Only a call that waited for its slot (`paced`) and was
   * sent after the latest pause began slows the pace: a noted call's 429 is its own burst, and
   * calls already on their way when the pace paused extend the pause to their hint and no more.
   */
  refused(admittedAt: number, hintMs: number | undefined, paced = true): number {
    const now = this.now();
    const fresh = paced && admittedAt > this.pausedAt;
    if (fresh) {
      this.refusalsInARow += 1;
      this.slowdown = Math.min(MAX_SLOWDOWN, this.slowdown * SLOWDOWN_STEP);
      this.lastRefusalAt = now;
    }
    const waitMs = hintMs ?? Math.min(MAX_UNHINTED_PAUSE_MS, UNHINTED_PAUSE_MS * 2 ** Math.max(0, this.refusalsInARow - 1));
    if (now + waitMs > this.pausedUntil) {
      this.pausedUntil = now + waitMs;
      this.pausedAt = now;
    }
    this.next = Math.max(this.next, this.pausedUntil);
    return this.pausedUntil - now;
  }
}

type CallKind = 'lookup' | 'read' | 'write' | 'list';

type Connectors = Partial<Record<SystemName, Connector>>;

/**
 * The worker's paces (one per system and rate-limit count, created on first use) and the
 * connectors whose calls go through them: `waiting` takes each call's slot (a mass-release page),
 * `noting` sends at once and only counts the call and its 429s in the pace (a per-leaver activity).
 * `rates`: JML_RATE_LIMIT_<SYSTEM>, calls per second (0 or absent: no configured rate).
 */
export function pacedConnectors(
  connectors: Connectors,
  rates: Partial<Record<SystemName, number>> = {},
  now: () => number = Date.now,
): { waiting: Connectors; noting: Connectors; paceOf: (system: SystemName, count: string) => CallPace } {
  const paces = new Map<string, CallPace>();
  const paceOf = (system: SystemName, count: string) => {
    const key = `${system} ${count}`;
    let pace = paces.get(key);
    if (!pace) {
      const rate = rates[system] ?? 0;
      pace = new CallPace(rate > 0 ? 1000 / rate : 0, now);
      paces.set(key, pace);
    }
    return pace;
  };
  const through = (system: SystemName, connector: Connector, wait: boolean): Connector => {
    const counts = { lookup: system, read: system, write: system, list: system, ...connector.rateLimitCounts };
    const paced =
      <A extends unknown[], R>(kind: CallKind, call: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        const count = counts[kind];
        if (count === null) return call(...args);
        const pace = paceOf(system, count);
        const admittedAt = wait ? await pace.take() : pace.note();
        try {
          const answer = await call(...args);
          pace.answered();
          return answer;
        } catch (error) {
          if (isRateLimitAnswer(error)) pace.refused(admittedAt, error.retryAfterMs, wait);
          else pace.answered();
          throw error;
        }
      };
    const readAccount = connector.readAccount?.bind(connector);
    const resolveAccounts = connector.resolveAccounts?.bind(connector);
    const listAccounts = connector.listAccounts?.bind(connector);
    // Each page of a listing is one call: the next page takes its slot before it is asked for.
    async function* pacedListing(options?: ListAccountsOptions): AsyncGenerator<ListedAccount[]> {
      const pages = listAccounts!(options);
      const nextPage = paced('list', () => pages.next());
      try {
        for (let page = await nextPage(); !page.done; page = await nextPage()) yield page.value;
      } finally {
        await pages.return(undefined);
      }
    }
    return {
      ...connector,
      resolveAccount: paced('lookup', connector.resolveAccount.bind(connector)),
      deactivate: paced('write', connector.deactivate.bind(connector)),
      reactivate: paced('write', connector.reactivate.bind(connector)),
      ...(readAccount ? { readAccount: paced('read', readAccount) } : {}),
      ...(resolveAccounts ? { resolveAccounts: paced('lookup', resolveAccounts) } : {}),
      ...(listAccounts ? { listAccounts: pacedListing } : {}),
    };
  };
  const waiting: Connectors = {};
  const noting: Connectors = {};
  for (const [system, connector] of Object.entries(connectors) as [SystemName, Connector][]) {
    waiting[system] = through(system, connector, true);
    noting[system] = through(system, connector, false);
  }
  return { waiting, noting, paceOf };
}
