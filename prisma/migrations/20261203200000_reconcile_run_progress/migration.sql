-- A reconciliation run's last sign of life (docs/decisions/022-reconciliation.md): written with
-- each page, so a run left `running` by a worker that died can be told from one still listing and
-- closed as `incomplete`. Nullable with no default: no table rewrite.
ALTER TABLE "reconcile_run" ADD COLUMN "progress_at" TIMESTAMPTZ(3);
