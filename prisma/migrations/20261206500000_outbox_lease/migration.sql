-- The outbox relay's lease (docs/decisions/018-lifecycle-transitions.md): a relay claims its rows
-- by setting lease_until, starts their workflows with no transaction open, then marks them. Until
-- lease_until every other relay passes the row over; after it (the claimer died) any relay takes it.
ALTER TABLE "outbox" ADD COLUMN "lease_until" TIMESTAMPTZ(3);
