-- The outbox carries signals to running workflows as well as workflow starts.

-- CreateEnum
CREATE TYPE "outbox_kind" AS ENUM ('start', 'signal');

-- AlterTable
ALTER TABLE "outbox" ADD COLUMN "kind" "outbox_kind" NOT NULL DEFAULT 'start',
ADD COLUMN "signal" TEXT,
ALTER COLUMN "workflow_type" DROP NOT NULL;

-- DropIndex
DROP INDEX "outbox_workflow_id_key";

-- CreateIndex
CREATE INDEX "outbox_workflow_id_idx" ON "outbox"("workflow_id");

-- Hand-written: one start per workflow id, any number of signals.
CREATE UNIQUE INDEX "outbox_one_start_per_workflow" ON "outbox" ("workflow_id") WHERE "kind" = 'start';
