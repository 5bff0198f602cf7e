#!/bin/sh
# Creates the role Temporal's auto-setup uses, with its own password, and its main database:
# auto-setup creates the visibility database but not one named like its user (POSTGRES_USER).
set -eu
password=$(cat /run/secrets/temporal_db_password 2>/dev/null || true)
[ -n "$password" ] || { echo "temporal_db_password secret missing or unreadable" >&2; exit 1; }
# psql quotes the password itself (:'password'), so any character in it is safe.
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'password';
CREATE DATABASE temporal OWNER temporal;
SQL
