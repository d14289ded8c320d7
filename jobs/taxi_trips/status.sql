-- Taxi trips status (seed 004, ChillFlow's `aggregate status`): after each successful curate.sql run, the KPI
-- statistics per month — trips read and kept, the retention rate, hours with KPIs, the pickups' date range — with
-- the curation runs the ledger recorded (the last one's id, time and mode, how many succeeded), in
-- gold.kpi_status and PostgreSQL's `kpi_status` for the data mart. docs/pipelines/004-taxi-trips.md.
--
--   strata run jobs/taxi_trips/status.sql        # or let `strata schedule jobs/taxi_trips` run it after curate.sql
--
-- The run ledger is the warehouse's (`_strata/runs`, a Delta table), read like any table.
--! after curate.sql

CREATE EXTERNAL TABLE ledger STORED AS DELTA LOCATION '_strata/runs';

CREATE EXTERNAL TABLE monthly_kpis STORED AS DELTA LOCATION 'gold/monthly_kpis';

CREATE VIEW curation_runs AS
SELECT max_by(run_id, at) AS last_run_id, max(at) AS last_run_at, max_by(mode, at) AS last_run_mode,
       count(*) AS runs_succeeded
FROM ledger
WHERE event = 'succeeded' AND (job = 'curate.sql' OR job LIKE '%/curate.sql');

CREATE TABLE gold.kpi_status AS
SELECT m.month, m.raw_trips, m.curated_trips, m.retention_rate, m.hours_processed, m.first_pickup,
       m.last_pickup, r.last_run_id, r.last_run_at, r.last_run_mode, r.runs_succeeded
FROM monthly_kpis m
CROSS JOIN curation_runs r;

CREATE EXTERNAL TABLE kpi_status (
  month DATE NOT NULL, raw_trips BIGINT, curated_trips BIGINT, retention_rate DECIMAL(6, 2),
  hours_processed BIGINT, first_pickup TIMESTAMP, last_pickup TIMESTAMP,
  last_run_id VARCHAR, last_run_at TIMESTAMP WITH TIME ZONE, last_run_mode VARCHAR, runs_succeeded BIGINT
)
STORED AS POSTGRES
LOCATION 'postgres:///chillflow'
OPTIONS (table 'kpi_status', key 'month');

INSERT INTO kpi_status SELECT * FROM gold.kpi_status;
