-- Seed 000, consumer batch processing (Spark -> PostgreSQL): raw ticks kept in PostgreSQL's `stock_prices` are
-- cleaned (bad fields dropped, price spikes quarantined, every removal counted), turned into daily bars, and
-- aggregated per day, week and month with moving averages (SMA, EMA), trend (MACD, regression slope, golden and
-- death crosses), volatility and relative strength (RSI, strength against the market); the results are upserted
-- into PostgreSQL's `stock_daily_aggregates`, `stock_weekly_aggregates` and `stock_monthly_aggregates` for
-- dashboards. docs/pipelines/000-batch-aggregates.md.
--
--   strata run jobs/stock_postgres/aggregates.sql        # STRATA_POSTGRES=host:port, STRATA_PG_USER/PASSWORD
--   strata schedule jobs/stock_postgres                   # daily at midnight UTC
--
-- Incremental: each run reads only the ticks newer than the last successful run's (the range filter is sent to
-- PostgreSQL), plus none before them: the cleaning steps look at a tick, its copies and its six neighbours, and the
-- indicators are recomputed from the daily bars kept in the warehouse. `--full-refresh` reads everything again.
-- Re-running is idempotent: the aggregates are upserted on their keys.
--
-- Server and credentials: `postgres:///market` takes host:port from STRATA_POSTGRES; the user and password come
-- from STRATA_PG_USER and STRATA_PG_PASSWORD (or a password file), never from this file. docs/postgres.md.
--! schedule '0 0 * * *' retries 3 backoff 5m

CREATE EXTERNAL TABLE stock_prices
STORED AS POSTGRES
LOCATION 'postgres:///market'
-- Read in parallel, split by time; `event_time` bounds incremental reads.
OPTIONS (table 'stock_prices', partition_column 'timestamp', event_time 'timestamp');

-- Cleaning, step 1: one tick per (symbol, time), from its latest fetch (then its highest id); ticks without a
-- symbol, a time, a positive price or a non-negative volume are dropped and counted.
CREATE TABLE silver.stock_ticks (
  CONSTRAINT has_symbol EXPECT (symbol IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT has_time EXPECT (ts IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT positive_price EXPECT (price > 0) ON VIOLATION DROP ROW,
  CONSTRAINT non_negative_volume EXPECT (volume >= 0) ON VIOLATION DROP ROW
) EVENT TIME (ts) AS
SELECT symbol,
       "timestamp" AS ts,
       CAST(last_value(price ORDER BY fetch_timestamp, id) AS DECIMAL(18, 4)) AS price,
       CAST(last_value(volume ORDER BY fetch_timestamp, id) AS BIGINT) AS volume
FROM stock_prices
GROUP BY symbol, "timestamp";

-- Cleaning, step 2, outlier removal as in the Delta pipeline: a price 5x away from the median of the seven ticks
-- around it is a bad tick. It moves to silver.clean_ticks_quarantine with the rule's name and the run id.
CREATE TABLE silver.clean_ticks (
  CONSTRAINT no_price_spike EXPECT (NOT price_spike) ON VIOLATION QUARANTINE
) EVENT TIME (ts) AS
SELECT symbol, ts, price, volume, CAST(ts AS DATE) AS day,
       return_spike(CAST(price AS DOUBLE), 5) OVER (PARTITION BY symbol ORDER BY ts) AS price_spike
FROM silver.stock_ticks
-- Every stored tick passes this (step 1's rules); it tells the planner the spike window never sees a NULL price,
-- so an incremental run reads only six ticks of history around the new ones.
WHERE price > 0;

-- Daily bars; open and close by time, so the result does not depend on how the read was split.
CREATE TABLE silver.stock_daily EVENT TIME (day) AS
SELECT symbol,
       CAST(ts AS DATE) AS day,
       first_value(price ORDER BY ts) AS open,
       max(price) AS high,
       min(price) AS low,
       last_value(price ORDER BY ts) AS close,
       CAST(avg(price) AS DECIMAL(18, 4)) AS avg_price,
       sum(volume) AS volume,
       count(*) AS ticks
FROM silver.clean_ticks
GROUP BY symbol, CAST(ts AS DATE);

-- The market: the average close of every symbol that traded that day (a price-weighted index, like the Dow).
CREATE VIEW market_daily AS
SELECT day, avg(CAST(close AS DOUBLE)) AS market_close
FROM silver.stock_daily
GROUP BY day;

CREATE EXTERNAL TABLE stock_daily_aggregates (
  symbol VARCHAR NOT NULL, day DATE NOT NULL,
  open DECIMAL(18, 4), high DECIMAL(18, 4), low DECIMAL(18, 4), close DECIMAL(18, 4), avg_price DECIMAL(18, 4),
  volume BIGINT, ticks BIGINT,
  sma_5 DOUBLE, sma_20 DOUBLE, sma_50 DOUBLE, sma_200 DOUBLE, ema_12 DOUBLE, ema_26 DOUBLE,
  macd DOUBLE, macd_signal DOUBLE, macd_hist DOUBLE, slope_20 DOUBLE, golden_cross DOUBLE,
  rsi_14 DOUBLE, volatility_20 DOUBLE, rs_20 DOUBLE
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'stock_daily_aggregates', key 'symbol, day', indexes 'symbol; day');

-- Every indicator shares the window w, so the bars are sorted once. golden_cross: 1 where the 50-day average
-- crosses above the 200-day one, -1 where it crosses below (a death cross), 0 otherwise.
CREATE VIEW daily_indicators AS
SELECT d.symbol, d.day, d.open, d.high, d.low, d.close, d.avg_price, d.volume, d.ticks,
       sma(CAST(d.close AS DOUBLE), 5) OVER w AS sma_5,
       sma(CAST(d.close AS DOUBLE), 20) OVER w AS sma_20,
       sma(CAST(d.close AS DOUBLE), 50) OVER w AS sma_50,
       sma(CAST(d.close AS DOUBLE), 200) OVER w AS sma_200,
       ema(CAST(d.close AS DOUBLE), 12) OVER w AS ema_12,
       ema(CAST(d.close AS DOUBLE), 26) OVER w AS ema_26,
       macd_line(CAST(d.close AS DOUBLE), 12, 26, 9) OVER w AS macd,
       macd_signal(CAST(d.close AS DOUBLE), 12, 26, 9) OVER w AS macd_signal,
       macd_hist(CAST(d.close AS DOUBLE), 12, 26, 9) OVER w AS macd_hist,
       linearreg_slope(CAST(d.close AS DOUBLE), 20) OVER w AS slope_20,
       rsi(CAST(d.close AS DOUBLE), 14) OVER w AS rsi_14,
       volatility(CAST(d.close AS DOUBLE), 20) OVER w AS volatility_20,
       relative_strength(CAST(d.close AS DOUBLE), m.market_close, 20) OVER w AS rs_20
FROM silver.stock_daily d
JOIN market_daily m ON d.day = m.day
WINDOW w AS (PARTITION BY d.symbol ORDER BY d.day);

INSERT INTO stock_daily_aggregates
SELECT symbol, day, open, high, low, close, avg_price, volume, ticks,
       sma_5, sma_20, sma_50, sma_200, ema_12, ema_26, macd, macd_signal, macd_hist, slope_20,
       crossover(sma_50, sma_200) OVER (PARTITION BY symbol ORDER BY day),
       rsi_14, volatility_20, rs_20
FROM daily_indicators;

-- Calendar weeks (from Monday) and months, from the daily bars, each with its own trend and volatility: the
-- change from the previous period's close, short and long averages, RSI and annualised volatility.
CREATE EXTERNAL TABLE stock_weekly_aggregates (
  symbol VARCHAR NOT NULL, week_start DATE NOT NULL,
  open DECIMAL(18, 4), high DECIMAL(18, 4), low DECIMAL(18, 4), close DECIMAL(18, 4),
  volume BIGINT, ticks BIGINT, trading_days BIGINT,
  change_pct DOUBLE, sma_4 DOUBLE, sma_13 DOUBLE, rsi_14 DOUBLE, volatility_13 DOUBLE
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'stock_weekly_aggregates', key 'symbol, week_start', indexes 'symbol; week_start');

INSERT INTO stock_weekly_aggregates
SELECT symbol, week_start, open, high, low, close, volume, ticks, trading_days,
       100 * (CAST(close AS DOUBLE) / lag(CAST(close AS DOUBLE)) OVER w - 1),
       sma(CAST(close AS DOUBLE), 4) OVER w,
       sma(CAST(close AS DOUBLE), 13) OVER w,
       rsi(CAST(close AS DOUBLE), 14) OVER w,
       volatility(CAST(close AS DOUBLE), 13, 52) OVER w
FROM (
  SELECT symbol, CAST(date_trunc('week', day) AS DATE) AS week_start,
         first_value(open ORDER BY day) AS open, max(high) AS high, min(low) AS low,
         last_value(close ORDER BY day) AS close,
         sum(volume) AS volume, sum(ticks) AS ticks, count(*) AS trading_days
  FROM silver.stock_daily
  GROUP BY 1, 2
)
WINDOW w AS (PARTITION BY symbol ORDER BY week_start);

CREATE EXTERNAL TABLE stock_monthly_aggregates (
  symbol VARCHAR NOT NULL, month_start DATE NOT NULL,
  open DECIMAL(18, 4), high DECIMAL(18, 4), low DECIMAL(18, 4), close DECIMAL(18, 4),
  volume BIGINT, ticks BIGINT, trading_days BIGINT,
  change_pct DOUBLE, sma_3 DOUBLE, sma_12 DOUBLE, rsi_14 DOUBLE, volatility_12 DOUBLE
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'stock_monthly_aggregates', key 'symbol, month_start', indexes 'symbol; month_start');

INSERT INTO stock_monthly_aggregates
SELECT symbol, month_start, open, high, low, close, volume, ticks, trading_days,
       100 * (CAST(close AS DOUBLE) / lag(CAST(close AS DOUBLE)) OVER w - 1),
       sma(CAST(close AS DOUBLE), 3) OVER w,
       sma(CAST(close AS DOUBLE), 12) OVER w,
       rsi(CAST(close AS DOUBLE), 14) OVER w,
       volatility(CAST(close AS DOUBLE), 12, 12) OVER w
FROM (
  SELECT symbol, CAST(date_trunc('month', day) AS DATE) AS month_start,
         first_value(open ORDER BY day) AS open, max(high) AS high, min(low) AS low,
         last_value(close ORDER BY day) AS close,
         sum(volume) AS volume, sum(ticks) AS ticks, count(*) AS trading_days
  FROM silver.stock_daily
  GROUP BY 1, 2
)
WINDOW w AS (PARTITION BY symbol ORDER BY month_start);
