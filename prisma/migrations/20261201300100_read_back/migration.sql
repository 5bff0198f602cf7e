-- Read-back after every action (issue 14, docs/decisions/021-outcomes-and-read-back.md): a target
-- is `verified` once a read of the account shows the new state: `succeeded` stays "accepted by
-- the vendor". confirmed_at keeps meaning the acceptance: verified_at is the read.
ALTER TYPE "action_status" ADD VALUE 'verified' AFTER 'succeeded';
ALTER TABLE "target_action" ADD COLUMN "verified_at" TIMESTAMPTZ(3);
