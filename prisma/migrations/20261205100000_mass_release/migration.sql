-- A mass release (docs/decisions/048-mass-release-lane.md) pages through the start rows its
-- approval marked 'mass', by the release's id in the row's input. Such rows are few among all the
-- outbox has ever held: a partial index keeps each page an index scan however long it grows.
CREATE INDEX "outbox_mass_release_idx" ON "outbox" ((args->0->>'massRelease'), workflow_id) WHERE signal = 'mass';
