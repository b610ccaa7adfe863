#!/bin/sh
# Restore a backup.sh dump into a NEW database, then print every table's row count to compare with the
# source. Never into the live database: switch over by renaming once the counts are right (docs/deploy.md).
#
#   sudo -u postgres deploy/cloud/postgresql/restore.sh /var/backups/medfix/medfix-20261203T020000Z.dump medfix_restored
#
# The roles of roles.sql must exist on the target server (run it first on a new server): the dump keeps
# each table's owner and rights, so the restored audit_log is as protected as the original.
# MEDFIX_PG_OWNER_ROLE (default medfix_owner) owns the new database, MEDFIX_PG_APP_ROLE (medfix_app) may
# connect to it; libpq's variables (PGHOST, PGPORT, PGUSER) choose the server.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 DUMP_FILE NEW_DATABASE" >&2
  exit 2
fi
dump=$1
target=$2
owner=${MEDFIX_PG_OWNER_ROLE:-medfix_owner}
app=${MEDFIX_PG_APP_ROLE:-medfix_app}

pg_restore --list "$dump" >/dev/null  # a damaged file fails here, before anything is created
createdb --no-password --owner="$owner" --template=template0 --encoding=UTF8 "$target"
# One transaction: a restore that fails part way leaves an empty database, not a half-restored one.
pg_restore --no-password --exit-on-error --single-transaction --dbname="$target" "$dump"
# Database-level rights are not in a dump: the same ones roles.sql gives (only the app may connect).
psql --no-password -X -q -v ON_ERROR_STOP=1 -v db="$target" -v app="$app" -d "$target" <<'SQL'
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";
ANALYZE;
SQL
echo "restored $dump into $target; rows per table:"
psql --no-password -X -q -A -F ' ' -t -d "$target" <<'SQL'
SELECT format('SELECT %L, count(*) FROM %I.%I', tablename, schemaname, tablename)
  FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename \gexec
SQL
