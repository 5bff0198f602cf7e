#!/bin/sh
# The Temporal server's schema, set up and upgraded by Temporal's own tool from the admin-tools
# image of the server's version, before the server starts (the way Temporal's compose samples do,
# instead of the development-only auto-setup image). Both steps are idempotent: every
# `docker compose up` runs them, and a newer image upgrades the schema it finds.
# The databases exist already: deploy/postgres-init/01-temporal-role.sh creates them.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}"
SQL_PASSWORD=$(cat /run/secrets/temporal_db_password)
export SQL_PASSWORD
for database in temporal temporal_visibility; do
  case "$database" in
    temporal) schema=/etc/temporal/schema/postgresql/v12/temporal/versioned ;;
    *) schema=/etc/temporal/schema/postgresql/v12/visibility/versioned ;;
  esac
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" --db "$database" setup-schema -v 0.0
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" --db "$database" update-schema -d "$schema"
done
echo "Temporal schemas are up to date"
