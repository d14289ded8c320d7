-- Taxi trips (seed 004, ChillFlow): a month of raw NYC yellow-cab trips is curated with data-quality rules,
-- derived fields (duration, speed) and a stable trip key into silver.trips; rule violations are counted and the
-- rejected trips kept in silver.trips_quarantine with the rules they broke and the run id; hourly zone KPIs go to
-- gold.zone_hourly_kpis and are upserted into PostgreSQL's zone_hourly_kpis for the data mart.
--
--   strata run jobs/taxi_trips/curate.sql --param month_start=2024-01-01T00:00:00 --param month_end=2024-02-01T00:00:00
--
-- Input: the month's TLC Parquet file(s) under <warehouse>/raw/yellow (e.g. yellow_tripdata_2024-01.parquet).
-- PostgreSQL: postgres:///chillflow takes host:port from STRATA_POSTGRES, credentials from STRATA_PG_USER /
-- STRATA_PG_PASSWORD (docs/postgres.md). The run's expectation counts give the retention rate:
-- silver.trips rows / raw rows.

CREATE EXTERNAL TABLE raw_trips STORED AS PARQUET LOCATION 'raw/yellow';

CREATE VIEW trips_with_fields AS
SELECT
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

-- The curated month. A trip breaking a QUARANTINE rule moves to silver.trips_quarantine; one outside the known
-- zones is dropped; the others are counted only.
CREATE TABLE silver.trips (
  CONSTRAINT dropoff_after_pickup EXPECT (dropoff_at > pickup_at) ON VIOLATION QUARANTINE,
  CONSTRAINT pickup_in_month EXPECT (pickup_at >= ${month_start} AND pickup_at < ${month_end}) ON VIOLATION QUARANTINE,
  CONSTRAINT plausible_speed EXPECT (speed_mph IS NULL OR speed_mph <= 100) ON VIOLATION QUARANTINE,
  CONSTRAINT non_negative_amounts EXPECT (fare >= 0 AND total >= 0) ON VIOLATION QUARANTINE,
  CONSTRAINT known_zones EXPECT (pickup_zone BETWEEN 1 AND 263 AND dropoff_zone BETWEEN 1 AND 263) ON VIOLATION DROP ROW,
  CONSTRAINT has_vendor EXPECT (vendor_id IS NOT NULL) ON VIOLATION FAIL,
  CONSTRAINT has_passengers EXPECT (passengers > 0)
) AS
SELECT
  concat_ws('-', vendor_id, CAST(pickup_at AS VARCHAR), pickup_zone, dropoff_zone) AS trip_key,
  vendor_id, pickup_at, dropoff_at, passengers, distance_miles, pickup_zone, dropoff_zone, payment_type,
  fare, tip, total,
  duration_min,
  CASE WHEN duration_min > 0 THEN distance_miles / (duration_min / 60) END AS speed_mph
FROM trips_with_fields;

-- Hourly KPIs per pickup zone.
CREATE TABLE gold.zone_hourly_kpis AS
SELECT
  pickup_zone AS zone,
  date_trunc('hour', pickup_at) AS hour,
  count(*) AS trips,
  sum(total) AS revenue,
  CAST(avg(fare) AS DECIMAL(10, 2)) AS avg_fare,
  CAST(sum(tip) / sum(fare) AS DECIMAL(10, 4)) AS tip_rate,
  CAST(avg(distance_miles) AS DECIMAL(10, 2)) AS avg_distance_miles,
  CAST(avg(duration_min) AS DECIMAL(10, 2)) AS avg_duration_min
FROM silver.trips
GROUP BY 1, 2;

CREATE EXTERNAL TABLE zone_hourly_kpis (
  zone INT NOT NULL, hour TIMESTAMP NOT NULL, trips BIGINT, revenue DECIMAL(20, 2), avg_fare DECIMAL(10, 2),
  tip_rate DECIMAL(10, 4), avg_distance_miles DECIMAL(10, 2), avg_duration_min DECIMAL(10, 2)
)
STORED AS POSTGRES
LOCATION 'postgres:///chillflow'
OPTIONS (table 'zone_hourly_kpis', key 'zone, hour', indexes 'hour');

INSERT INTO zone_hourly_kpis SELECT * FROM gold.zone_hourly_kpis;
