-- Retention: old audit rows can leave the table for an archive file without breaking
-- verification (docs/decisions/010-audit-privileges-and-retention.md).

-- CreateTable
CREATE TABLE "audit_checkpoint" (
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,
    "first_seq" BIGINT NOT NULL,
    "rows" BIGINT NOT NULL,
    "file_name" TEXT NOT NULL,
    "file_sha256" TEXT NOT NULL,
    "archived_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "archived_by" TEXT NOT NULL,

    CONSTRAINT "audit_checkpoint_pkey" PRIMARY KEY ("seq")
);

-- Hand-written: checkpoints are append-only like the rows they stand for.
CREATE TRIGGER "audit_checkpoint_append_only" BEFORE UPDATE OR DELETE ON "audit_checkpoint"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_reject_change"();
CREATE TRIGGER "audit_checkpoint_no_truncate" BEFORE TRUNCATE ON "audit_checkpoint"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_reject_change"();

-- Hand-written: the one deletion the trigger allows. Inside a transaction that set
-- jml.audit_archive_through (the archive command, run as the owner, who alone holds DELETE), rows
-- up to that seq may go, and only when a checkpoint at or after them records where they went.
-- Semicolons inside the body are written as the escape \003B (decision 002).
CREATE OR REPLACE FUNCTION "audit_event_reject_change"() RETURNS trigger LANGUAGE plpgsql AS U&'
DECLARE
  archiving text\003B
BEGIN
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

-- Hand-written: the application reads checkpoints, never writes them.
DO U&'
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ''jml_application'') THEN
    REVOKE ALL ON audit_checkpoint FROM jml_application\003B
    GRANT SELECT ON audit_checkpoint TO jml_application\003B
  END IF\003B
END
';
REVOKE ALL ON "audit_checkpoint" FROM PUBLIC;
