-- Verifications of the audit chain, recorded so that evidence can cite the latest one instead of
-- re-verifying the whole chain per request (docs/decisions/016-audit-integration.md).

-- CreateTable
CREATE TABLE "audit_verification" (
    "id" BIGSERIAL NOT NULL,
    "verified_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "from_seq" BIGINT NOT NULL,
    "through_seq" BIGINT NOT NULL,
    "through_hash" TEXT NOT NULL,
    "rows_checked" BIGINT NOT NULL,
    "ok" BOOLEAN NOT NULL,
    "broken_seq" BIGINT,
    "reason" TEXT,
    "pending_rows" INTEGER NOT NULL,
    "verified_by" TEXT NOT NULL,

    CONSTRAINT "audit_verification_pkey" PRIMARY KEY ("id")
);

-- Hand-written: a verification, once recorded, stays as it was.
CREATE TRIGGER "audit_verification_append_only" BEFORE UPDATE OR DELETE ON "audit_verification"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_reject_change"();
CREATE TRIGGER "audit_verification_no_truncate" BEFORE TRUNCATE ON "audit_verification"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_reject_change"();

-- Hand-written: the application records verifications and reads them, nothing more.
DO U&'
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ''jml_application'') THEN
    REVOKE ALL ON audit_verification FROM jml_application\003B
    GRANT SELECT, INSERT ON audit_verification TO jml_application\003B
    GRANT USAGE, SELECT ON SEQUENCE audit_verification_id_seq TO jml_application\003B
  END IF\003B
END
';
REVOKE ALL ON "audit_verification" FROM PUBLIC;
