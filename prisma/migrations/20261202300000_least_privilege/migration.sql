-- Hand-written: least privilege for the application role
-- (docs/decisions/037-least-privilege-in-the-database.md).
--
-- The privileges themselves are applied by jml's migration runner after this migration, table by
-- table, from src/db/grants.ts, and again at every `jml migrate`: so a jml_application that a DBA
-- creates after the migrations ran gets them too. What is left here is the schema itself: before
-- PostgreSQL 15 every role may CREATE in schema public, where a table the application created
-- would be its own to alter. Only the schema's owner may revoke that; anyone else gets a notice.
-- Semicolons inside the block are written as the escape \003B (decision 002).
DO U&'
BEGIN
  REVOKE CREATE ON SCHEMA public FROM PUBLIC\003B
EXCEPTION WHEN insufficient_privilege THEN
  RAISE NOTICE ''Could not revoke CREATE on schema public from PUBLIC (not its owner): on PostgreSQL < 15 ask its owner to, see docs/decisions/037-least-privilege-in-the-database.md''\003B
END
';
