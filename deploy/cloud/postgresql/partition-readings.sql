-- The reading table partitioned by month (PostgreSQL declarative partitioning), for fleets whose raw readings
-- outgrow one table: old months are dropped whole instead of deleted row by row, and queries on recent data
-- touch only recent partitions. Optional: medfix runs the same on the plain table (docs/deploy.md).
--
-- Once, as the owner role, with every API worker and scorer stopped (it takes the table's exclusive lock):
--
--   systemctl stop medfix.target
--   psql -X -v app=medfix_app -f partition-readings.sql postgresql://medfix_owner@127.0.0.1/medfix
--   systemctl start medfix.target
--
-- The existing rows are not copied: the old table becomes the partition "reading_history", holding everything
-- before next month (only its primary key is rebuilt, to include observed_at as partitioning requires).
-- New months get partitions reading_yYYYYmMM; readings outside every range (a gateway clock years off) land in
-- reading_default. medfix-partitions.timer runs, daily:
--   SELECT medfix_reading_partitions_ahead(3);       -- this month and the next 3 exist
--   SELECT medfix_reading_partitions_drop(<days>);   -- months wholly older than <days> are dropped
-- The constraint and index names stay those of the models, so later migrations find what they expect, and
-- ON CONFLICT on (gateway_id, observed_at, device_key, metric) keeps deduplicating re-sent readings.
-- Tested by tests/deploy/test_partitioning.py.
\set ON_ERROR_STOP on
BEGIN;
LOCK TABLE reading IN ACCESS EXCLUSIVE MODE;

-- 1. The plain table steps aside under new names and becomes the history partition.
ALTER TABLE reading RENAME TO reading_history;
ALTER TABLE reading_history RENAME CONSTRAINT pk_reading TO pk_reading_history;
ALTER TABLE reading_history RENAME CONSTRAINT uq_reading_gateway_id_observed_at_device_key_metric
  TO uq_reading_history_key;
ALTER TABLE reading_history RENAME CONSTRAINT fk_reading_device_id_device TO fk_reading_history_device;
ALTER INDEX ix_reading_device_id_metric_observed_at RENAME TO ix_reading_history_device_metric_time;
-- A partitioned table's unique keys must hold the partition column.
ALTER TABLE reading_history DROP CONSTRAINT pk_reading_history,
  ADD CONSTRAINT pk_reading_history PRIMARY KEY (id, observed_at);

-- 2. The partitioned table, with the same columns (and any a later migration added), defaults and names.
CREATE TABLE reading (LIKE reading_history INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMPRESSION)
  PARTITION BY RANGE (observed_at);
ALTER TABLE reading ADD CONSTRAINT pk_reading PRIMARY KEY (id, observed_at);
ALTER TABLE reading ADD CONSTRAINT uq_reading_gateway_id_observed_at_device_key_metric
  UNIQUE (gateway_id, observed_at, device_key, metric);
ALTER TABLE reading ADD CONSTRAINT fk_reading_device_id_device
  FOREIGN KEY (device_id) REFERENCES device (id) ON DELETE SET NULL;
CREATE INDEX ix_reading_device_id_metric_observed_at ON reading (device_id, metric, observed_at);
ALTER SEQUENCE reading_id_seq OWNED BY reading.id;

-- 3. History attached up to the start of next month; a CHECK proves the bound, so attaching scans nothing twice.
DO $$
DECLARE
  bound timestamptz := date_trunc('month', now(), 'UTC') + interval '1 month';
BEGIN
  EXECUTE format('ALTER TABLE reading_history ADD CONSTRAINT reading_history_bound CHECK (observed_at < %L)', bound);
  EXECUTE format('ALTER TABLE reading ATTACH PARTITION reading_history FOR VALUES FROM (MINVALUE) TO (%L)', bound);
  ALTER TABLE reading_history DROP CONSTRAINT reading_history_bound;
END $$;
CREATE TABLE reading_default PARTITION OF reading DEFAULT;

-- 4. Months ahead, created by the timer (and now); and old months dropped whole.
CREATE OR REPLACE FUNCTION medfix_reading_partitions_ahead(months integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  first timestamptz;
  created integer := 0;
BEGIN
  FOR i IN 0..months LOOP
    first := date_trunc('month', now(), 'UTC') + make_interval(months => i);
    BEGIN
      EXECUTE format('CREATE TABLE %I PARTITION OF reading FOR VALUES FROM (%L) TO (%L)',
                     to_char(first AT TIME ZONE 'UTC', '"reading_y"YYYY"m"MM'), first, first + interval '1 month');
      created := created + 1;
    EXCEPTION
      WHEN duplicate_table OR invalid_object_definition THEN NULL;  -- exists, or history covers that month
      WHEN check_violation THEN  -- reading_default already holds rows of that month: move them by hand
        RAISE WARNING 'reading_default holds readings of %; partition for that month not created', first;
    END;
  END LOOP;
  RETURN created;
END $$;

CREATE OR REPLACE FUNCTION medfix_reading_partitions_drop(keep_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  dropped integer := 0;
BEGIN
  FOR part IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'reading'::regclass AND c.relname ~ '^reading_y[0-9]{4}m[0-9]{2}$'
  LOOP
    -- A month's partition goes once its last instant is older than keep_days.
    IF to_timestamp(substr(part.relname, 10, 4) || substr(part.relname, 15, 2), 'YYYYMM')::timestamp
         AT TIME ZONE 'UTC' + interval '1 month' <= now() - make_interval(days => keep_days) THEN
      EXECUTE format('DROP TABLE %I', part.relname);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END $$;

SELECT medfix_reading_partitions_ahead(3);

-- 5. The application role's rights on the new tables (later partitions get them from the owner's default
-- privileges, set by grants.sql).
GRANT SELECT, INSERT, UPDATE, DELETE ON reading, reading_history, reading_default TO :"app";
COMMIT;
