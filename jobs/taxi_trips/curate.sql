-- Taxi trips (seed 004, ChillFlow): each month of raw NYC yellow-cab trips is curated with data-quality rules,
-- derived fields (duration, speed) and pseudonymous keys into silver.trips; rule violations are counted and the
-- rejected trips kept in silver.trips_quarantine with the rules they broke and the run id; the curated trips and
-- hourly zone KPIs are upserted into PostgreSQL (`trips`, `zone_hourly_kpis`) for the data mart, and
-- gold.monthly_kpis keeps each month's retention, hours and date range. docs/pipelines/004-taxi-trips.md.
--
--   strata run jobs/taxi_trips/curate.sql                                  # the months not processed yet
--   strata run jobs/taxi_trips/curate.sql --backfill 2024-02-01 2024-02-01   # one month again
--   strata run jobs/taxi_trips/curate.sql --full-refresh                     # every month
--
-- Input: one directory per month of TLC Parquet files, <warehouse>/raw/yellow/month=2024-01-01/*.parquet. The
-- directory's date is the event time: a run reads the months that arrived since the last successful run, so a
-- trip's bad pickup time (TLC files hold trips dated years away) never moves what the next run reads.
-- Secrets: trip keys and vehicle ids are HMAC-SHA256 pseudonyms keyed by the secret `chillflow_salt`, from
-- STRATA_SECRET_CHILLFLOW_SALT_FILE (a file) or STRATA_SECRET_CHILLFLOW_SALT; the salt is in no plan, log or ledger.
-- PostgreSQL: postgres:///chillflow takes host:port from STRATA_POSTGRES, credentials from STRATA_PG_USER /
-- STRATA_PG_PASSWORD (docs/postgres.md).
--! schedule '0 3 2 * *' retries 3 backoff 10m

CREATE EXTERNAL TABLE raw_trips STORED AS PARQUET PARTITIONED BY (month) LOCATION 'raw/yellow'
OPTIONS ('event_time' 'month');

CREATE VIEW trips_with_fields AS
SELECT
  month,
  "VendorID" AS vendor_id,
  tpep_pickup_datetime AS pickup_at,
  tpep_dropoff_datetime AS dropoff_at,
  CAST(passenger_count AS INT) AS passengers,
  trip_distance AS distance_miles,
  "PULocationID" AS pickup_zone,
  "DOLocationID" AS dropoff_zone,
  payment_type,
  CAST(fare_amount AS DECIMAL(10, 2)) AS fare,
  CAST(tip_amount AS DECIMAL(10, 2)) AS tip,
  CAST(total_amount AS DECIMAL(10, 2)) AS total,
  CAST(date_part('epoch', tpep_dropoff_datetime - tpep_pickup_datetime) AS DOUBLE) / 60 AS duration_min
FROM raw_trips;

-- The curated months. A trip breaking a QUARANTINE rule moves to silver.trips_quarantine; one outside the known
-- zones is dropped; the others are counted only. trip_key identifies a trip (vendor, times, zones) and vehicle_id
-- a vendor's cab per pickup zone (TLC's public records carry no vehicle number), both as keyed pseudonyms.
CREATE TABLE silver.trips (
  CONSTRAINT dropoff_after_pickup EXPECT (dropoff_at > pickup_at) ON VIOLATION QUARANTINE,
  CONSTRAINT pickup_in_month EXPECT (pickup_at >= month AND pickup_at < month + INTERVAL '1 month') ON VIOLATION QUARANTINE,
  CONSTRAINT plausible_speed EXPECT (speed_mph IS NULL OR speed_mph <= 100) ON VIOLATION QUARANTINE,
  CONSTRAINT non_negative_amounts EXPECT (fare >= 0 AND total >= 0) ON VIOLATION QUARANTINE,
  CONSTRAINT known_zones EXPECT (pickup_zone BETWEEN 1 AND 263 AND dropoff_zone BETWEEN 1 AND 263) ON VIOLATION DROP ROW,
  CONSTRAINT has_vendor EXPECT (vendor_id IS NOT NULL) ON VIOLATION FAIL,
  CONSTRAINT has_passengers EXPECT (passengers > 0)
) PARTITIONED BY (month) EVENT TIME (month) AS
SELECT
  hmac_sha256(
    concat_ws('|', vendor_id, CAST(pickup_at AS VARCHAR), CAST(dropoff_at AS VARCHAR), pickup_zone, dropoff_zone),
    'chillflow_salt'
  ) AS trip_key,
  hmac_sha256(concat_ws('|', 'vehicle', vendor_id, pickup_zone), 'chillflow_salt') AS vehicle_id,
  vendor_id, pickup_at, dropoff_at, passengers, distance_miles, pickup_zone, dropoff_zone, payment_type,
  fare, tip, total,
  duration_min,
  CASE WHEN duration_min > 0 THEN distance_miles / (duration_min / 60) END AS speed_mph,
  month
FROM trips_with_fields;

-- Hourly KPIs per pickup zone.
CREATE TABLE gold.zone_hourly_kpis EVENT TIME (month) AS
SELECT
  pickup_zone AS zone,
  date_trunc('hour', pickup_at) AS hour,
  count(*) AS trips,
  sum(total) AS revenue,
  CAST(avg(fare) AS DECIMAL(10, 2)) AS avg_fare,
  CAST(sum(tip) / sum(fare) AS DECIMAL(10, 4)) AS tip_rate,
  CAST(avg(distance_miles) AS DECIMAL(10, 2)) AS avg_distance_miles,
  CAST(avg(duration_min) AS DECIMAL(10, 2)) AS avg_duration_min,
  month
FROM silver.trips
GROUP BY month, pickup_zone, date_trunc('hour', pickup_at);

-- Each month at a glance: trips read and kept (the retention rate), hours with KPIs, and the pickups' range.
CREATE TABLE gold.monthly_kpis EVENT TIME (month) AS
SELECT r.month, r.raw_trips, c.curated_trips,
       CAST(100.0 * c.curated_trips / r.raw_trips AS DECIMAL(6, 2)) AS retention_rate,
       k.hours_processed, c.first_pickup, c.last_pickup
FROM (SELECT month, count(*) AS raw_trips FROM raw_trips GROUP BY month) r
JOIN (SELECT month, count(*) AS curated_trips, min(pickup_at) AS first_pickup, max(pickup_at) AS last_pickup
      FROM silver.trips GROUP BY month) c ON r.month = c.month
JOIN (SELECT month, count(DISTINCT hour) AS hours_processed FROM gold.zone_hourly_kpis GROUP BY month) k
  ON r.month = k.month;

CREATE EXTERNAL TABLE trips (
  trip_key VARCHAR NOT NULL, vehicle_id VARCHAR NOT NULL, vendor_id BIGINT, pickup_at TIMESTAMP NOT NULL,
  dropoff_at TIMESTAMP, passengers INT, distance_miles DOUBLE, pickup_zone BIGINT, dropoff_zone BIGINT,
  payment_type BIGINT, fare DECIMAL(10, 2), tip DECIMAL(10, 2), total DECIMAL(10, 2), duration_min DOUBLE,
  speed_mph DOUBLE, month DATE NOT NULL
)
STORED AS POSTGRES
LOCATION 'postgres:///chillflow'
OPTIONS (table 'trips', key 'trip_key', indexes 'pickup_at; vehicle_id; month');

INSERT INTO trips
SELECT trip_key, vehicle_id, vendor_id, pickup_at, dropoff_at, passengers, distance_miles, pickup_zone,
       dropoff_zone, payment_type, fare, tip, total, duration_min, speed_mph, month
FROM silver.trips;

CREATE EXTERNAL TABLE zone_hourly_kpis (
  zone INT NOT NULL, hour TIMESTAMP NOT NULL, trips BIGINT, revenue DECIMAL(20, 2), avg_fare DECIMAL(10, 2),
  tip_rate DECIMAL(10, 4), avg_distance_miles DECIMAL(10, 2), avg_duration_min DECIMAL(10, 2)
)
STORED AS POSTGRES
LOCATION 'postgres:///chillflow'
OPTIONS (table 'zone_hourly_kpis', key 'zone, hour', indexes 'hour');

INSERT INTO zone_hourly_kpis
SELECT zone, hour, trips, revenue, avg_fare, tip_rate, avg_distance_miles, avg_duration_min
FROM gold.zone_hourly_kpis;
