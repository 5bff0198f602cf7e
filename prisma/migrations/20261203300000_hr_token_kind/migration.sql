-- The HR webhook's own token kind (docs/decisions/026-hr-webhook.md, 024-roles.md): a bearer
-- token that may only post HR events, required besides the delivery's HMAC signature. ADD VALUE
-- may run in a transaction on PostgreSQL 12 and later as long as the same transaction does not use the value.
ALTER TYPE "token_kind" ADD VALUE IF NOT EXISTS 'hr';
