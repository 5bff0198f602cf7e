-- Hashes a verification of the whole chain vouched for, every 256 rows and at its head, so that
-- evidence proves one person's rows by recomputing the chain from each row to the nearest anchor
-- after it: work proportional to the person, not to the trail
-- (docs/decisions/039-evidence-against-verified-anchors.md).

-- CreateTable
CREATE TABLE "audit_verified_anchor" (
    "seq" BIGINT NOT NULL,
    "hash" TEXT NOT NULL,
    "verification_id" BIGINT NOT NULL,

    CONSTRAINT "audit_verified_anchor_pkey" PRIMARY KEY ("seq")
);

-- AddForeignKey
ALTER TABLE "audit_verified_anchor" ADD CONSTRAINT "audit_verified_anchor_verification_id_fkey" FOREIGN KEY ("verification_id") REFERENCES "audit_verification"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Hand-written: an anchor, once recorded, stays as it was (the first verification to reach a seq
-- records it; later ones are compared with it, never written over it).
CREATE TRIGGER "audit_verified_anchor_append_only" BEFORE UPDATE OR DELETE ON "audit_verified_anchor"
  FOR EACH ROW EXECUTE FUNCTION "audit_event_reject_change"();
CREATE TRIGGER "audit_verified_anchor_no_truncate" BEFORE TRUNCATE ON "audit_verified_anchor"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_reject_change"();

REVOKE ALL ON "audit_verified_anchor" FROM PUBLIC;
