// The audit trail's hash chain. Every row's hash covers its content and the previous row's hash,
// so editing or deleting any row breaks every hash after it (docs/decisions/004-audit-chain.md).
import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from './canonical.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface ChainedRow {
  seq: bigint;
  occurredAt: Date;
  actor: string;
  action: string;
  identityId: string | null;
  eventId: string | null;
  system: string | null;
  data: JsonValue;
  prevHash: string;
}

export function hashAuditRow(row: ChainedRow): string {
  const canonical = canonicalJson({
    seq: row.seq.toString(),
    occurredAt: row.occurredAt.toISOString(),
    actor: row.actor,
    action: row.action,
    identityId: row.identityId,
    eventId: row.eventId,
    system: row.system,
    data: row.data,
    prevHash: row.prevHash,
  });
  return createHash('sha256').update(canonical).digest('hex');
}
