-- The integrator links a batch with one UPDATE instead of one UPDATE per row (decision 058).
-- jml_integrate() of decision 016 ran an UPDATE statement per row from a PL/pgSQL loop: 62-120 us
-- of PostgreSQL CPU per row linked, on the same two cores as the appends it follows. Here the loop
-- only computes the links (seq, prev_hash, hash, each row's from the one before, in id order) into
-- arrays, and one UPDATE ... FROM unnest() writes them: 34-46 us per row (bench/audit-append.ts).
-- Nothing else changes: the same advisory lock, the head row locked and moved in the same
-- transaction, the same hash function, and the append-only trigger checks every row's hash as before.
-- Semicolons inside the body are written as the escape \003B (decision 002).
CREATE OR REPLACE FUNCTION "jml_integrate"(max_rows integer)
  RETURNS TABLE(integrated integer, busy boolean, head_seq bigint, head_hash text, delays_ms double precision[])
  LANGUAGE plpgsql AS U&'
DECLARE
  first_seq bigint\003B
  previous text\003B
  ids bigint[]\003B
  entries text[]\003B
  appended timestamptz[]\003B
  prevs text[]\003B
  hashes text[]\003B
  counted integer\003B
  started timestamptz := clock_timestamp()\003B
BEGIN
  IF NOT pg_try_advisory_xact_lock(1785555970) THEN
    RETURN QUERY SELECT 0, true, NULL::bigint, NULL::text, ARRAY[]::double precision[]\003B
    RETURN\003B
  END IF\003B
  SELECT h.seq, h.hash INTO first_seq, previous FROM audit_chain_head h WHERE h.id = 1 FOR UPDATE\003B
  IF NOT FOUND THEN
    RAISE EXCEPTION ''audit_chain_head is missing: the database was not migrated''\003B
  END IF\003B
  SELECT array_agg(p.id ORDER BY p.id), array_agg(p.entry_hash ORDER BY p.id), array_agg(p.appended_at ORDER BY p.id)
    INTO ids, entries, appended
    FROM (SELECT e.id, e.entry_hash, e.appended_at FROM audit_event e WHERE e.seq IS NULL ORDER BY e.id LIMIT max_rows) p\003B
  counted := coalesce(cardinality(ids), 0)\003B
  IF counted = 0 THEN
    RETURN QUERY SELECT 0, false, first_seq, previous, ARRAY[]::double precision[]\003B
    RETURN\003B
  END IF\003B
  prevs := array_fill(NULL::text, ARRAY[counted])\003B
  hashes := array_fill(NULL::text, ARRAY[counted])\003B
  FOR i IN 1..counted LOOP
    prevs[i] := previous\003B
    previous := jml_audit_chain_hash(entries[i], previous, first_seq + i)\003B
    hashes[i] := previous\003B
  END LOOP\003B
  UPDATE audit_event e SET seq = first_seq + link.n, prev_hash = link.prev_hash, hash = link.hash
    FROM unnest(ids, prevs, hashes) WITH ORDINALITY AS link(id, prev_hash, hash, n)
    WHERE e.id = link.id\003B
  UPDATE audit_chain_head SET seq = first_seq + counted, hash = previous WHERE id = 1\003B
  RETURN QUERY SELECT counted, false, first_seq + counted, previous,
    ARRAY(SELECT (EXTRACT(EPOCH FROM started - waited.at) * 1000)::double precision FROM unnest(appended) WITH ORDINALITY AS waited(at, n) ORDER BY waited.n)\003B
END\003B
';
