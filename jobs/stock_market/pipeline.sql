-- Stock market batch pipeline: raw daily prices (bronze) -> cleaned daily, weekly and monthly bars (silver)
-- -> daily indicators (gold).
--
-- Input: a Delta table of daily OHLCV rows (symbol, ts, open, high, low, close, volume, year), e.g. from
--   strata generate market --symbols 50 --start 2015-01-01 --end 2024-12-31 --defect-rate 0.01 \
--       --out warehouse/bronze/market_daily
-- Relative LOCATIONs and CREATE TABLE outputs live in the warehouse (--warehouse, default ./warehouse).

CREATE EXTERNAL TABLE bronze.market_daily
STORED AS DELTA
LOCATION 'bronze/market_daily';

-- Cleaning, step 1: a bar is valid when all four prices are present and positive, the bar is consistent
-- (low <= open, close <= high) and the volume is not negative. Comparisons with NULL are not true, so rows with a
-- NULL price fail the filter too.
CREATE VIEW valid_prices AS
SELECT symbol, ts, open, high, low, close, volume
FROM bronze.market_daily
WHERE open > 0 AND high > 0 AND low > 0 AND close > 0
  AND volume >= 0
  AND low <= least(open, close)
  AND high >= greatest(open, close);

-- Cleaning, step 2: one row per symbol and session. Copies are resolved deterministically.
CREATE VIEW deduped_prices AS
SELECT symbol, ts, open, high, low, close, volume
FROM (
  SELECT *,
         row_number() OVER (PARTITION BY symbol, ts ORDER BY volume DESC, close, open, high, low) AS copy_no
  FROM valid_prices
)
WHERE copy_no = 1;

-- Cleaning, step 3: drop bad ticks, bars whose close is more than 5x above or below the median close of the seven
-- sessions around it (itself included), so that even two or three bad ticks in a row cannot hide each other.
-- Symbols with fewer than three bars nearby are not judged.
CREATE VIEW clean_prices AS
SELECT symbol, ts, open, high, low, close, volume
FROM (
  SELECT *,
         median(close) OVER w AS local_median,
         count(close) OVER w AS local_bars
  FROM deduped_prices
  WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING)
)
WHERE local_bars < 3 OR (close <= 5 * local_median AND 5 * close >= local_median);

CREATE TABLE silver.daily_bars PARTITIONED BY (year) AS
SELECT symbol,
       CAST(ts AS DATE) AS trade_date,
       ts,
       open, high, low, close, volume,
       CAST(date_part('year', ts) AS INT) AS year
FROM clean_prices;

-- Weeks start on Monday; open is the first session's open, close the last session's close.
CREATE TABLE silver.weekly_bars PARTITIONED BY (year) AS
SELECT symbol,
       CAST(date_trunc('week', ts) AS DATE) AS week_start,
       first_value(open ORDER BY ts) AS open,
       max(high) AS high,
       min(low) AS low,
       last_value(close ORDER BY ts) AS close,
       sum(volume) AS volume,
       count(*) AS sessions,
       CAST(date_part('year', date_trunc('week', ts)) AS INT) AS year
FROM silver.daily_bars
GROUP BY symbol, date_trunc('week', ts);

CREATE TABLE silver.monthly_bars PARTITIONED BY (year) AS
SELECT symbol,
       CAST(date_trunc('month', ts) AS DATE) AS month_start,
       first_value(open ORDER BY ts) AS open,
       max(high) AS high,
       min(low) AS low,
       last_value(close ORDER BY ts) AS close,
       sum(volume) AS volume,
       count(*) AS sessions,
       CAST(date_part('year', date_trunc('month', ts)) AS INT) AS year
FROM silver.daily_bars
GROUP BY symbol, date_trunc('month', ts);

-- Simple moving averages over 20, 50 and 200 sessions and the annualised 20-session volatility of log returns.
-- A value needs a full window: rows before it are NULL, never a half-computed average.
CREATE TABLE gold.daily_indicators PARTITIONED BY (year) AS
SELECT symbol,
       trade_date,
       close,
       CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 END AS sma_20,
       CASE WHEN count(close) OVER w50 = 50 THEN avg(close) OVER w50 END AS sma_50,
       CASE WHEN count(close) OVER w200 = 200 THEN avg(close) OVER w200 END AS sma_200,
       log_return,
       CASE WHEN count(log_return) OVER w20 = 20 THEN stddev_samp(log_return) OVER w20 * sqrt(252.0) END
         AS volatility_20,
       year
FROM (
  SELECT symbol, trade_date, close, year,
         ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY trade_date)) AS log_return
  FROM silver.daily_bars
)
WINDOW w20 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
       w50 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
       w200 AS (PARTITION BY symbol ORDER BY trade_date ROWS BETWEEN 199 PRECEDING AND CURRENT ROW);
