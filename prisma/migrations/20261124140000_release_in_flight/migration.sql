-- The outbox relay counts the events in flight before it releases more approved leavers
-- (docs/decisions/014-paced-release.md). In flight is a small set among all events ever recorded:
-- a partial index keeps the count cheap however long the history grows.
CREATE INDEX "lifecycle_event_in_flight_idx" ON "lifecycle_event" ("workflow_id") WHERE "status" IN ('pending', 'running');
