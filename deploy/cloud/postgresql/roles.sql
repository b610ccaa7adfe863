-- medfix on PostgreSQL: the database, its owner role and the application role. Run once, as a superuser:
--
--   sudo -u postgres psql -X -v owner=medfix_owner -v app=medfix_app -v db=medfix -f roles.sql
--   sudo -u postgres psql -X -c '\password medfix_owner' -c '\password medfix_app'
--
-- Idempotent: roles and the database are created only when missing, the rights are set again each run.
-- The owner role owns the schema and every table: only it runs migrations (deploy/cloud/postgresql/
-- migrate.sh). The application role, which every API worker and scorer connects as, may read and write rows
-- but change no schema, and on audit_log may only INSERT and SELECT (grants.sql, after each migration):
-- together with the triggers of migrations 0001 and 0028 the audit log cannot be rewritten, deleted or
-- TRUNCATEd from the application's connection, even by a bug or an injected statement.
-- Passwords are set with \password (sent hashed, never in a file or the server log).
\set ON_ERROR_STOP on

SELECT format('CREATE ROLE %I LOGIN', :'owner')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
-- Neither role may create roles or databases, or bypass row security: whatever the application is tricked
-- into, it stays inside its database.
ALTER ROLE :"owner" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE :"app" NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

-- template0 and UTF8: zh-CN text everywhere; the collation stays the cluster's (sorting is done in Python).
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'db', :'owner', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"app";

\connect :"db"
-- Only the owner creates objects; the application may use what is there.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
