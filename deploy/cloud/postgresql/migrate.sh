#!/bin/sh
# Migrate medfix's database as the owner role, then give the application role its rights (grants.sql).
# Run by medfix-migrate.service before the API workers start, with /etc/medfix/medfix.env and then
# /etc/medfix/migrate.env, whose MEDFIX_DATABASE_URL (the owner's) replaces the application's:
#
#   MEDFIX_DATABASE_URL=postgresql+psycopg://medfix_owner:...@127.0.0.1:5432/medfix
#   MEDFIX_PG_APP_ROLE=medfix_app
#
# MEDFIX_VENV (default /opt/medfix/venv) is the virtualenv medfix is installed in.
set -eu

: "${MEDFIX_DATABASE_URL:?set MEDFIX_DATABASE_URL to the owner role's postgresql+psycopg:// URL}"
app_role=${MEDFIX_PG_APP_ROLE:-medfix_app}
venv=${MEDFIX_VENV:-/opt/medfix/venv}
here=$(cd "$(dirname "$0")" && pwd)

"$venv/bin/medfix" cloud migrate

# psql speaks libpq URLs (no +driver); the password goes through PGPASSWORD, never the command line (ps).
libpq_url=$("$venv/bin/python" -c 'import os; from sqlalchemy.engine import make_url
u = make_url(os.environ["MEDFIX_DATABASE_URL"])
print(u.set(drivername="postgresql", password=None).render_as_string(hide_password=False))')
PGPASSWORD=$("$venv/bin/python" -c 'import os; from sqlalchemy.engine import make_url
print(make_url(os.environ["MEDFIX_DATABASE_URL"]).password or "")')
export PGPASSWORD
psql "$libpq_url" -X -q -v ON_ERROR_STOP=1 -v app="$app_role" -f "$here/grants.sql"
echo "granted $app_role its rights (audit_log: INSERT, SELECT)"
