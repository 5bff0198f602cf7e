// Fault injection shared by the simulators: what a flaky or failing SaaS does to jml, settable at
// runtime from code (`setFaults`) or over HTTP (`POST <prefix>/_sim/faults`).
import type { Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import type { Clock } from './clock.js';

export const faultSettingsSchema = z.strictObject({
  /** Added to every vendor call before it is handled. */
  latencyMs: z.number().int().min(0).max(120_000).optional(),
  /** Share of vendor calls (0..1) answered with a random 500, 502 or 503. */
  errorRate: z.number().min(0).max(1).optional(),
  /** Every vendor call is answered 503 until this time (epoch ms on the simulator's clock, or ISO 8601). */
  outageUntil: z.union([z.number().int(), z.iso.datetime({ offset: true }).transform((iso) => Date.parse(iso))]).optional(),
  /** Always answer this status for calls about this account (user id, username, email or uuid). */
  statusByAccount: z.record(z.string().min(1), z.number().int().min(400).max(599)).optional(),
  /**
   * Answer this status to reads (GET) about this account, and only to reads: a system that
   * accepts writes while its reads fail (a read replica down, a read rate limit), which is what
   * jml's read-back after an accepted change must retry without writing again (decision 021).
   */
  readStatusByAccount: z.record(z.string().min(1), z.number().int().min(400).max(599)).optional(),
  /**
   * A lying system: it answers a state change (deactivate, activate) as a success and does not
   * apply it. `true` for every account, or the accounts (user id, username, email or uuid) it
   * lies about. Reads then show the account unchanged, which is what read-back must catch.
   */
  ignoreWrites: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
  /**
   * A hung system: calls are never answered. `true` for every vendor call, or the accounts (user
   * id, username, email or uuid) whose calls hang. A held call has no effect; it stays open until
   * the caller gives up (its timeout, its process dying) or the simulator closes, even after the
   * fault is cleared, as a request lost inside a vendor's load balancer would.
   */
  hang: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
});

export type FaultSettings = z.input<typeof faultSettingsSchema>;
type ParsedFaults = z.output<typeof faultSettingsSchema>;

/** Answers with the vendor's own error shape for `status`. */
export type SendVendorError = (response: Response, status: number, detail?: string) => void;

/** Every identifier of the account a call is about (empty when it is about none). */
export type AccountKeysOf = (request: Request) => string[];

const RANDOM_SERVER_ERRORS = [500, 502, 503] as const;

export class FaultInjector {
  private settings: ParsedFaults = {};
  private readonly held = new Set<Response>();

  constructor(
    private readonly now: Clock,
    private readonly random: () => number,
  ) {}

  /** Replaces the faults in effect; `{}` clears them. */
  set(settings: FaultSettings): void {
    this.settings = faultSettingsSchema.parse(settings);
  }

  current(): ParsedFaults {
    return structuredClone(this.settings);
  }

  clear(): void {
    this.settings = {};
  }

  /** Whether a state change of the account known by these keys is to be answered but not applied. */
  ignoresWrite(accountKeys: readonly string[]): boolean {
    const { ignoreWrites } = this.settings;
    if (ignoreWrites === undefined || ignoreWrites === false) return false;
    return ignoreWrites === true || accountKeys.some((key) => ignoreWrites.includes(key));
  }

  /** Calls held open by the hang fault right now (their callers have not given up yet). */
  heldCalls(): number {
    return this.held.size;
  }

  middleware(accountKeysOf: AccountKeysOf, sendError: SendVendorError): RequestHandler {
    return async (request, response, next) => {
      const { latencyMs, errorRate, outageUntil, statusByAccount, readStatusByAccount, hang } = this.settings;
      if (hang === true || (Array.isArray(hang) && accountKeysOf(request).some((key) => hang.includes(key)))) {
        // Never answered, never handled: only the caller closing the connection ends it.
        this.held.add(response);
        response.once('close', () => this.held.delete(response));
        return;
      }
      if (latencyMs) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      if (outageUntil !== undefined && this.now() < outageUntil) {
        return sendError(response, 503, 'simulated outage');
      }
      if (errorRate && this.random() < errorRate) {
        const pick = Math.min(RANDOM_SERVER_ERRORS.length - 1, Math.floor(this.random() * RANDOM_SERVER_ERRORS.length));
        return sendError(response, RANDOM_SERVER_ERRORS[pick]!, 'simulated server error');
      }
      const byAccount = (table: Record<string, number>) => accountKeysOf(request).map((key) => table[key]).find((found) => found !== undefined);
      const status = statusByAccount && byAccount(statusByAccount);
      if (status !== undefined) return sendError(response, status, 'simulated failure for this account');
      const readStatus = request.method === 'GET' && readStatusByAccount ? byAccount(readStatusByAccount) : undefined;
      if (readStatus !== undefined) return sendError(response, readStatus, 'simulated failure of reads for this account');
      next();
    };
  }
}
