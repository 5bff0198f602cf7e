#!/bin/sh
# Creates the role Temporal's auto-setup uses for its own databases, with its own password.
set -eu
password=$(cat /run/secrets/temporal_db_password 2>/dev/null || true)
[ -n "$password" ] || { echo "temporal_db_password secret missing" >&2; exit 1; }
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE temporal LOGIN CREATEDB PASSWORD '${password}';
SQL
