-- A SCIM Bulk request sent with an Idempotency-Key header, and each of its operations' results as
-- they commit (docs/decisions/032-scim-bulk.md): a resent request with the same key and body is
-- answered from here, operations already done are not run again, and this survives a restart and
-- works across API replicas. A key is the client's own, kept 24 hours. Not modelled in
-- schema.prisma: only src/scim/bulk-idempotency.ts reads and writes these, in SQL.

CREATE TABLE "scim_bulk_request" (
    "id" UUID NOT NULL,
    -- The SCIM client (its token's or OAuth client's name): keys of different clients never meet.
    "client" TEXT NOT NULL,
    "idempotency_key" TEXT NOT NULL,
    -- SHA-256 of the request's JSON: the same key with another body is refused.
    "body_hash" TEXT NOT NULL,
    -- The whole BulkResponse, once every operation ran; NULL while it runs or after a crash.
    "response" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "scim_bulk_request_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "scim_bulk_request_client_key" ON "scim_bulk_request" ("client", "idempotency_key");
CREATE INDEX "scim_bulk_request_created_at" ON "scim_bulk_request" ("created_at");

CREATE TABLE "scim_bulk_operation" (
    "request_id" UUID NOT NULL,
    -- The operation's position in the request's Operations array.
    "index" INTEGER NOT NULL,
    -- Its entry of the BulkResponse (status, location, version or error).
    "result" JSONB NOT NULL,
    -- What a POST with a bulkId created: later operations' bulkId references resolve to it.
    "bulk_id" TEXT,
    "created_id" TEXT,

    CONSTRAINT "scim_bulk_operation_pkey" PRIMARY KEY ("request_id", "index"),
    CONSTRAINT "scim_bulk_operation_request_id_fkey" FOREIGN KEY ("request_id") REFERENCES "scim_bulk_request"("id") ON DELETE CASCADE
);

REVOKE ALL ON "scim_bulk_request" FROM PUBLIC;
REVOKE ALL ON "scim_bulk_operation" FROM PUBLIC;
