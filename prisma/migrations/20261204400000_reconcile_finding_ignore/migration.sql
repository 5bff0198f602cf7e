-- An operator's "ignore" of a reconciliation finding (docs/decisions/022-reconciliation.md): who,
-- when and why, on the finding; the same account's same finding in later runs reads as ignored
-- through the (system, account_id) index. Nullable with no default: no table rewrite.
ALTER TABLE "reconcile_finding" ADD COLUMN "ignored_by" TEXT, ADD COLUMN "ignored_at" TIMESTAMPTZ(3), ADD COLUMN "ignored_reason" TEXT;
CREATE INDEX "reconcile_finding_system_account_id_idx" ON "reconcile_finding"("system", "account_id");
