-- The application role's rights on medfix's tables. Run as the owner role after every migration (migrate.sh
-- does), because a migration may add tables:
--
--   psql -X -v app=medfix_app -f grants.sql postgresql://medfix_owner@127.0.0.1/medfix
--
-- Rows: read and write everywhere (the app deletes expired tokens, old readings, outbox rows...), never
-- TRUNCATE, REFERENCES or TRIGGER. audit_log: INSERT and SELECT only (security finding 12 of issue #13);
-- alembic_version: SELECT only, so the schema version is moved by migrations alone.
\set ON_ERROR_STOP on
BEGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app";
REVOKE ALL ON TABLE audit_log FROM :"app";
GRANT SELECT, INSERT ON TABLE audit_log TO :"app";
REVOKE ALL ON TABLE alembic_version FROM :"app";
GRANT SELECT ON TABLE alembic_version TO :"app";
-- Tables a later migration creates are usable at once, before this script runs again after it (the
-- audit log's narrower rights are set above by name, and again on every run).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO :"app";
COMMIT;
