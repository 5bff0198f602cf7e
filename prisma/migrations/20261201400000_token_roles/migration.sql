-- Token kinds become roles (docs/decisions/024-roles.md): an auditor reads the record, an admin
-- manages tokens and settings, besides the SCIM client and the operator. ADD VALUE may run in a
-- transaction on PostgreSQL 12 and later as long as the same transaction does not use the value.
ALTER TYPE "token_kind" ADD VALUE IF NOT EXISTS 'auditor';
ALTER TYPE "token_kind" ADD VALUE IF NOT EXISTS 'admin';
