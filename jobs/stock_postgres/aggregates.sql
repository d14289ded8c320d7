-- Stock batch aggregation over PostgreSQL (seeds 000, 001 and 003): raw ticks kept in PostgreSQL's `stock_prices`
-- are cleaned into a Delta table, aggregated per day, week and month with moving averages and volatility, and
-- upserted back into PostgreSQL (`stock_daily_aggregates`, `stock_weekly_aggregates`, `stock_monthly_aggregates`)
-- for dashboards. Run daily; re-running is idempotent (the aggregates are upserted on their keys).
--
-- Server and credentials: `postgres:///market` takes host:port from STRATA_POSTGRES; the user and password come
-- from STRATA_PG_USER and STRATA_PG_PASSWORD (or a password file), never from this file. docs/postgres.md.

CREATE EXTERNAL TABLE stock_prices
STORED AS POSTGRES
LOCATION 'postgres:///market'
-- Read in parallel, split by time.
OPTIONS (table 'stock_prices', partition_column 'timestamp');

-- Cleaning: a tick needs a symbol, a time, a positive price and a non-negative volume; a tick fetched twice keeps
-- its latest fetch.
CREATE VIEW clean_ticks AS
SELECT symbol,
       CAST(price AS DECIMAL(18, 4)) AS price,
       CAST(volume AS BIGINT) AS volume,
       "timestamp" AS ts
FROM stock_prices
WHERE symbol IS NOT NULL AND "timestamp" IS NOT NULL AND price > 0 AND volume >= 0
QUALIFY row_number() OVER (PARTITION BY symbol, "timestamp" ORDER BY fetch_timestamp DESC, id DESC) = 1;

CREATE TABLE silver.stock_ticks AS
SELECT symbol, ts, price, volume, CAST(ts AS DATE) AS day
FROM clean_ticks;

-- Daily bars; open and close by time, so the result does not depend on how the read was split.
CREATE TABLE silver.stock_daily AS
SELECT symbol, day,
       first_value(price ORDER BY ts) AS open,
       max(price) AS high,
       min(price) AS low,
       last_value(price ORDER BY ts) AS close,
       CAST(avg(price) AS DECIMAL(18, 4)) AS avg_price,
       sum(volume) AS volume,
       count(*) AS ticks
FROM silver.stock_ticks
GROUP BY symbol, day;

CREATE EXTERNAL TABLE stock_daily_aggregates (
  symbol VARCHAR NOT NULL, day DATE NOT NULL,
  open DECIMAL(18, 4), high DECIMAL(18, 4), low DECIMAL(18, 4), close DECIMAL(18, 4), avg_price DECIMAL(18, 4),
  volume BIGINT, ticks BIGINT, sma_5 DECIMAL(18, 4), sma_20 DECIMAL(18, 4), volatility_20 DECIMAL(18, 6)
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'stock_daily_aggregates', key 'symbol, day', indexes 'symbol; day');

INSERT INTO stock_daily_aggregates
SELECT symbol, day, open, high, low, close, avg_price, volume, ticks,
       CAST(sma(CAST(close AS DOUBLE), 5) OVER w AS DECIMAL(18, 4)),
       CAST(sma(CAST(close AS DOUBLE), 20) OVER w AS DECIMAL(18, 4)),
       CAST(volatility(CAST(close AS DOUBLE), 20) OVER w AS DECIMAL(18, 6))
FROM silver.stock_daily
WINDOW w AS (PARTITION BY symbol ORDER BY day);

-- Calendar weeks (Monday) and months, from the daily bars.
CREATE EXTERNAL TABLE stock_weekly_aggregates (
  symbol VARCHAR NOT NULL, week_start DATE NOT NULL,
  open DECIMAL(18, 4), high DECIMAL(18, 4), low DECIMAL(18, 4), close DECIMAL(18, 4),
  volume BIGINT, ticks BIGINT, trading_days BIGINT
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'stock_weekly_aggregates', key 'symbol, week_start', indexes 'symbol; week_start');

INSERT INTO stock_weekly_aggregates
SELECT symbol, CAST(date_trunc('week', day) AS DATE),
       first_value(open ORDER BY day), max(high), min(low), last_value(close ORDER BY day),
       sum(volume), sum(ticks), count(*)
FROM silver.stock_daily
GROUP BY 1, 2;

CREATE EXTERNAL TABLE stock_monthly_aggregates (
  symbol VARCHAR NOT NULL, month_start DATE NOT NULL,
  open DECIMAL(18, 4), high DECIMAL(18, 4), low DECIMAL(18, 4), close DECIMAL(18, 4),
  volume BIGINT, ticks BIGINT, trading_days BIGINT
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'stock_monthly_aggregates', key 'symbol, month_start', indexes 'symbol; month_start');

INSERT INTO stock_monthly_aggregates
SELECT symbol, CAST(date_trunc('month', day) AS DATE),
       first_value(open ORDER BY day), max(high), min(low), last_value(close ORDER BY day),
       sum(volume), sum(ticks), count(*)
FROM silver.stock_daily
GROUP BY 1, 2;
