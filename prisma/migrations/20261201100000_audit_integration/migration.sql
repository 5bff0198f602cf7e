-- Audit without a global lock (docs/decisions/016-audit-integration.md).
-- Until now every audited transaction locked audit_chain_head from its append to its commit, so
-- audited writes ran one at a time. From here on a row commits with the change it records carrying
-- only its own leaf hash (entry_hash), and one integrator links committed rows into the chain in
-- batches: seq, prev_hash and hash are written once, later, by jml_integrate().
-- Rows written before this migration were chained at insert: they keep chain_version 1 and verify
-- as before.

ALTER TABLE "audit_event" DROP CONSTRAINT "audit_event_pkey";

-- The identity fills the existing rows once (a table rewrite fires no row trigger).
ALTER TABLE "audit_event" ADD COLUMN "id" BIGSERIAL NOT NULL,
  ADD COLUMN "entry_hash" TEXT,
  ADD COLUMN "chain_version" SMALLINT NOT NULL DEFAULT 1,
  ADD COLUMN "appended_at" TIMESTAMPTZ(3),
  ALTER COLUMN "seq" DROP NOT NULL,
  ALTER COLUMN "prev_hash" DROP NOT NULL,
  ALTER COLUMN "hash" DROP NOT NULL;

-- Existing rows took the constant 1 above: from now on rows are version 2, stamped when inserted.
ALTER TABLE "audit_event" ALTER COLUMN "chain_version" SET DEFAULT 2;
ALTER TABLE "audit_event" ALTER COLUMN "appended_at" SET DEFAULT clock_timestamp();

ALTER TABLE "audit_event" ADD CONSTRAINT "audit_event_pkey" PRIMARY KEY ("id");

-- CreateIndex
CREATE UNIQUE INDEX "audit_event_seq_key" ON "audit_event"("seq");

-- Hand-written: the rows still waiting for the integrator, found without scanning the trail.
CREATE INDEX "audit_event_pending_idx" ON "audit_event"("id") WHERE "seq" IS NULL;

-- Hand-written: a version 1 row is chained, a version 2 row has a well-formed leaf hash.
ALTER TABLE "audit_event" ADD CONSTRAINT "audit_event_chain_version_check" CHECK (
  (chain_version = 1 AND entry_hash IS NULL AND seq IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)
  OR (chain_version = 2 AND entry_hash ~ '^[0-9a-f]{64}$')
);

-- Hand-written: the chain hash of a version 2 row, byte for byte what src/audit/chain.ts computes:
-- sha256(0x01 || canonical JSON of {entryHash, prevHash, seq, v}), keys sorted, seq as a string.
-- Both hashes are hex (the check above), so the JSON needs no escaping. 0x01 is RFC 6962's
-- interior-node prefix, kept apart from the 0x00 leaf prefix of entry_hash.
CREATE FUNCTION "jml_audit_chain_hash"(entry_hash text, prev_hash text, seq bigint) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
  'SELECT encode(sha256(decode(''01'', ''hex'') || convert_to(''{"entryHash":"'' || entry_hash || ''","prevHash":"'' || prev_hash || ''","seq":"'' || seq::text || ''","v":2}'', ''UTF8'')), ''hex'')';

-- Hand-written: the append-only trigger now allows exactly one UPDATE: a version 2 row's chain
-- columns, from NULL to their correct values, everything else unchanged. Everything else stays as
-- decision 010 left it (archive deletions of checkpointed rows only).
-- Semicolons inside the body are written as the escape \003B (decision 002).
CREATE OR REPLACE FUNCTION "audit_event_reject_change"() RETURNS trigger LANGUAGE plpgsql AS U&'
DECLARE
  archiving text\003B
BEGIN
  IF TG_OP = ''UPDATE'' AND TG_TABLE_NAME = ''audit_event'' THEN
    IF OLD.chain_version = 2 AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
       AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL
       AND NEW.hash IS NOT DISTINCT FROM jml_audit_chain_hash(NEW.entry_hash, NEW.prev_hash, NEW.seq)
       AND (NEW.id, NEW.occurred_at, NEW.actor, NEW.action, NEW.identity_id, NEW.event_id, NEW.system, NEW.data, NEW.entry_hash, NEW.chain_version, NEW.appended_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.occurred_at, OLD.actor, OLD.action, OLD.identity_id, OLD.event_id, OLD.system, OLD.data, OLD.entry_hash, OLD.chain_version, OLD.appended_at) THEN
      RETURN NEW\003B
    END IF\003B
  END IF\003B
  IF TG_OP = ''DELETE'' AND TG_TABLE_NAME = ''audit_event'' THEN
    archiving := NULLIF(current_setting(''jml.audit_archive_through'', true), '''')\003B
    IF archiving IS NOT NULL AND OLD.seq <= archiving::bigint
       AND EXISTS (SELECT 1 FROM audit_checkpoint WHERE seq >= OLD.seq AND first_seq <= OLD.seq) THEN
      RETURN OLD\003B
    END IF\003B
  END IF\003B
  RAISE EXCEPTION ''% is append-only: % is not allowed'', TG_TABLE_NAME, TG_OP
    USING ERRCODE = ''insufficient_privilege''\003B
END\003B
';

-- Hand-written: the integrator. One call links up to max_rows committed, unintegrated rows, in id
-- order, onto the head, and moves the head: one statement per batch. The transaction-level
-- advisory lock makes it one integrator at a time across every process, and is released with the
-- transaction, so an integrator that dies leaves nothing to clean up: its batch committed whole or
-- not at all. busy is true when another integrator holds the lock. delays_ms is, per row, the time
-- from its insert to its integration (the integration delay metric).
-- The lock key is 0x6a6d6c02 ("jml" 2), beside the outbox relay's 0x6a6d6c01.
CREATE FUNCTION "jml_integrate"(max_rows integer)
  RETURNS TABLE(integrated integer, busy boolean, head_seq bigint, head_hash text, delays_ms double precision[])
  LANGUAGE plpgsql AS U&'
DECLARE
  next_seq bigint\003B
  previous text\003B
  linked text\003B
  pending record\003B
  counted integer := 0\003B
  waited double precision[] := ARRAY[]::double precision[]\003B
  started timestamptz := clock_timestamp()\003B
BEGIN
  IF NOT pg_try_advisory_xact_lock(1785555970) THEN
    RETURN QUERY SELECT 0, true, NULL::bigint, NULL::text, waited\003B
    RETURN\003B
  END IF\003B
  SELECT h.seq, h.hash INTO next_seq, previous FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE\003B
  IF NOT FOUND THEN
    RAISE EXCEPTION ''audit_chain_head is missing: the database was not migrated''\003B
  END IF\003B
  FOR pending IN
    SELECT e.id, e.entry_hash, e.appended_at FROM audit_event e WHERE e.seq IS NULL ORDER BY e.id LIMIT max_rows
  LOOP
    next_seq := next_seq + 1\003B
    linked := jml_audit_chain_hash(pending.entry_hash, previous, next_seq)\003B
    UPDATE audit_event SET seq = next_seq, prev_hash = previous, hash = linked WHERE id = pending.id\003B
    previous := linked\003B
    counted := counted + 1\003B
    waited := waited || (EXTRACT(EPOCH FROM started - pending.appended_at) * 1000)::double precision\003B
  END LOOP\003B
  IF counted > 0 THEN
    UPDATE audit_chain_head SET seq = next_seq, hash = previous WHERE id = 1\003B
  END IF\003B
  RETURN QUERY SELECT counted, false, next_seq, previous, waited\003B
END\003B
';

-- Hand-written: the application may write the chain columns (the trigger allows it once, from
-- NULL) and nothing else of an audit row.
DO U&'
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ''jml_application'') THEN
    GRANT UPDATE (seq, prev_hash, hash) ON audit_event TO jml_application\003B
    GRANT USAGE, SELECT ON SEQUENCE audit_event_id_seq TO jml_application\003B
  END IF\003B
END
';
