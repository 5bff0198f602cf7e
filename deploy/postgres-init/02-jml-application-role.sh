#!/bin/sh
# The roles jml's API and worker run as (docs/decisions/037-least-privilege-in-the-database.md):
# jml_application holds the privileges, which `jml migrate` (the jml-migrate service, as the owner)
# grants table by table; jml_app logs in and only belongs to it. It owns nothing and is no
# superuser, so it cannot switch the audit trail's trigger off.
set -eu
password=$(cat /run/secrets/jml_app_db_password 2>/dev/null || true)
[ -n "$password" ] || { echo "jml_app_db_password secret missing or unreadable" >&2; exit 1; }
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE jml_application NOLOGIN;
CREATE ROLE jml_app LOGIN PASSWORD :'password' IN ROLE jml_application;
SQL
