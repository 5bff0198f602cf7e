-- The two-person rule (JML_APPROVALS_REQUIRED=2, docs/decisions/038-two-person-release.md): the
-- first operator's approval of a held leaver, kept until a second, different operator releases it.
-- Nullable columns with no default: no table rewrite.
ALTER TABLE "lifecycle_event" ADD COLUMN "first_approved_by" TEXT,
ADD COLUMN "first_approved_at" TIMESTAMPTZ(3);
