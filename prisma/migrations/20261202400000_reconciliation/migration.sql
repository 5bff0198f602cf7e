-- Reconciliation (issue 14, docs/decisions/022-reconciliation.md): one row per run and system,
-- and one row per finding, so that a listing of 100,000 accounts never has to be held at once
-- and an operator can page through what it found.
CREATE TYPE "reconcile_status" AS ENUM ('running', 'complete', 'incomplete');
CREATE TYPE "reconcile_finding_kind" AS ENUM ('drift', 'orphan', 'disabled_active');

-- CreateTable
CREATE TABLE "reconcile_run" (
    "id" UUID NOT NULL,
    "system" TEXT NOT NULL,
    "status" "reconcile_status" NOT NULL DEFAULT 'running',
    "trigger" TEXT NOT NULL,
    "dry_run" BOOLEAN NOT NULL DEFAULT false,
    "remediate" BOOLEAN NOT NULL DEFAULT false,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),
    "accounts" INTEGER NOT NULL DEFAULT 0,
    "matched" INTEGER NOT NULL DEFAULT 0,
    "drift" INTEGER NOT NULL DEFAULT 0,
    "orphans" INTEGER NOT NULL DEFAULT 0,
    "disabled_active" INTEGER NOT NULL DEFAULT 0,
    "remediated" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,

    CONSTRAINT "reconcile_run_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "reconcile_finding" (
    "id" BIGSERIAL NOT NULL,
    "run_id" UUID NOT NULL,
    "system" TEXT NOT NULL,
    "kind" "reconcile_finding_kind" NOT NULL,
    "account_id" TEXT NOT NULL,
    "account_active" BOOLEAN NOT NULL,
    "identity_id" UUID,
    "remediation" TEXT,
    "event_id" UUID,

    CONSTRAINT "reconcile_finding_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "reconcile_run_system_started_at_idx" ON "reconcile_run"("system", "started_at");
CREATE INDEX "reconcile_finding_run_id_kind_idx" ON "reconcile_finding"("run_id", "kind");
ALTER TABLE "reconcile_finding" ADD CONSTRAINT "reconcile_finding_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "reconcile_run"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Each listed page is matched in one statement: by the account jml already linked, else by the
-- lookup attribute, compared as the lookups compare it (userName and emails ignoring case).
CREATE INDEX "account_link_system_account_id_idx" ON "account_link"("system", "account_id");
CREATE INDEX "identity_user_name_lower_idx" ON "identity"(lower("user_name"));
CREATE INDEX "identity_email_lower_idx" ON "identity"(lower("email"));
CREATE INDEX "identity_employee_number_idx" ON "identity"("employee_number");
