-- The HR webhook's replay store (docs/decisions/026-hr-webhook.md): each accepted delivery's
-- signature, kept a little longer than the signature window, so a replay is refused by every API
-- replica and after a restart, not only by the process that saw the delivery. Not modelled in
-- schema.prisma: only src/hr/replay-store.ts uses it, in SQL.

CREATE TABLE "hr_webhook_delivery" (
    "signature" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "hr_webhook_delivery_pkey" PRIMARY KEY ("signature")
);
CREATE INDEX "hr_webhook_delivery_received_at" ON "hr_webhook_delivery" ("received_at");

REVOKE ALL ON "hr_webhook_delivery" FROM PUBLIC;
