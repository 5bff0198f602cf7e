#!/bin/sh
# Creates the role the Temporal server and its schema tool use, with its own password, and both of
# its databases, owned by it: the schema one-shot (deploy/temporal/setup-schema.sh) then only sets
# up and upgrades their schemas, so the role needs no CREATEDB.
set -eu
password=$(cat /run/secrets/temporal_db_password 2>/dev/null || true)
[ -n "$password" ] || { echo "temporal_db_password secret missing or unreadable" >&2; exit 1; }
# psql quotes the password itself (:'password'), so any character in it is safe.
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
