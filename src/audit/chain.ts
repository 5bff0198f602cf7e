// The audit trail's hash chain. Every row's hash covers its content and the previous row's hash,
// so editing or deleting any row breaks every hash after it (docs/decisions/004-audit-chain.md).
//
// Two row versions (docs/decisions/016-audit-integration.md):
// - version 1, written before decision 016: chained at insert, hash over content, seq and prevHash;
// - version 2: the row commits with a leaf hash of its content alone (RFC 6962 §2.1's leaf hash,
//   sha256(0x00 || content)); the integrator later links it with
//   hash = sha256(0x01 || canonical {entryHash, prevHash, seq, v: 2}), computed in SQL by
//   jml_audit_chain_hash() in the same bytes as chainHash() here.
import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from './canonical.js';

export const GENESIS_HASH = '0'.repeat(64);

/** What a row says: everything but its place in the chain. */
export interface AuditContent {
  occurredAt: Date;
  actor: string;
  action: string;
  identityId: string | null;
  eventId: string | null;
  system: string | null;
  data: JsonValue;
}

export interface ChainedRow extends AuditContent {
  seq: bigint;
  prevHash: string;
}

/** Version 1: the hash of a row chained at insert. */
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

const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);

/** Version 2: the leaf hash a row carries from its insert. */
export function entryHash(content: AuditContent): string {
  const canonical = canonicalJson({
    occurredAt: content.occurredAt.toISOString(),
    actor: content.actor,
    action: content.action,
    identityId: content.identityId,
    eventId: content.eventId,
    system: content.system,
    data: content.data,
  });
  return createHash('sha256').update(LEAF).update(canonical).digest('hex');
}

/** Version 2: the chain hash the integrator gives a row (jml_audit_chain_hash in SQL). */
export function chainHash(link: { entryHash: string; prevHash: string; seq: bigint }): string {
  // canonicalJson of {entryHash, prevHash, seq, v: 2}, written out: the keys are already in sorted
  // order and JSON.stringify escapes each string exactly as canonicalJson does (a test compares
  // the two). Verification and evidence compute this once per row, so the generic walk over the
  // object showed in their profiles (issue 13).
  const canonical = `{"entryHash":${JSON.stringify(link.entryHash)},"prevHash":${JSON.stringify(link.prevHash)},"seq":${JSON.stringify(link.seq.toString())},"v":2}`;
  return createHash('sha256').update(NODE).update(canonical).digest('hex');
}

/** The chain's next hash after `prevHash`: a version 2 row's from its leaf hash, a version 1 row's from its content. */
export function nextChainHash(prevHash: string, row: { seq: bigint; entryHash: string } | { seq: bigint; content: AuditContent }): string {
  return 'entryHash' in row ? chainHash({ entryHash: row.entryHash, prevHash, seq: row.seq }) : hashAuditRow({ ...row.content, seq: row.seq, prevHash });
}
