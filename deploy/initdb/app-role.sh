#!/bin/sh
# Run once by the postgres image when it makes the database (docker-entrypoint-initdb.d).
#
# The role the apps run as: it reads and writes the tables the migrations make (as the owner, `loyalty`)
# and owns none of them, so it cannot switch off the audit trail's append-only trigger
# (docs/operations.md, "Deploying with compose"). Migrations, backups and restores run as the owner.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v password="$LOYALTY_APP_DB_PASSWORD" -v owner="$POSTGRES_USER" <<'SQL'
CREATE ROLE loyalty_app LOGIN PASSWORD :'password';
GRANT USAGE ON SCHEMA public TO loyalty_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO loyalty_app;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO loyalty_app;
SQL
