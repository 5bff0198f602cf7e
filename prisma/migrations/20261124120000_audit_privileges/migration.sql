-- Hand-written: the privileges that keep the audit trail append-only for the application
-- (docs/decisions/010-audit-privileges-and-retention.md).
--
-- Whoever owns a table can ALTER it, DISABLE its triggers and grant themselves UPDATE again, and a
-- superuser bypasses every check. So the application must run as a role that neither owns the
-- tables nor is a superuser. jml_application is the group role holding what the application needs
-- and no more: DML on its working tables, but only SELECT and INSERT on audit_event and SELECT and
-- UPDATE on the chain head. Give it to the login role the application connects as, and keep the
-- owner's credentials for migrations.
--
-- A role is cluster-wide, and a plain owner role may not create one: the role is created when the
-- migrating role may (a superuser, or CREATEROLE), and granted to when it exists. Otherwise the
-- migration only says so, and the decision record gives the statements to run later.
-- Semicolons inside the block are written as the escape \003B (decision 002).
DO U&'
DECLARE
  may_create boolean\003B
BEGIN
  SELECT rolsuper OR rolcreaterole INTO may_create FROM pg_roles WHERE rolname = current_user\003B
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ''jml_application'') THEN
    IF NOT may_create THEN
      RAISE NOTICE ''Role jml_application does not exist and % may not create it: see docs/decisions/010-audit-privileges-and-retention.md'', current_user\003B
      RETURN\003B
    END IF\003B
    BEGIN
      CREATE ROLE jml_application NOLOGIN\003B
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL\003B
    END\003B
  END IF\003B

  GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO jml_application\003B
  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO jml_application\003B
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO jml_application\003B
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO jml_application\003B

  REVOKE ALL ON audit_event FROM jml_application\003B
  GRANT SELECT, INSERT ON audit_event TO jml_application\003B
  REVOKE ALL ON audit_chain_head FROM jml_application\003B
  GRANT SELECT, UPDATE ON audit_chain_head TO jml_application\003B
END
';

-- Nobody but the owner writes the audit tables except as granted above.
REVOKE ALL ON "audit_event" FROM PUBLIC;
REVOKE ALL ON "audit_chain_head" FROM PUBLIC;
