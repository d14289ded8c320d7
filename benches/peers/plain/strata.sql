-- The plain-SQL peer pipeline (benches/peers/run.sh, pipeline "plain"): only SQL every engine has — no Strata
-- functions. Calendar bars with ordered first_value/last_value, fixed-size bars from row_number() buckets, and
-- rolling averages and deviations over ROWS frames with a lag-based log return. The peers' scripts in this
-- directory compute the same five tables natively.

CREATE EXTERNAL TABLE bronze.prices STORED AS DELTA LOCATION 'bronze/prices';

CREATE TABLE silver.weekly_bars AS
SELECT symbol, date_trunc('week', ts) AS bar_start,
       first_value(open ORDER BY ts) AS open, max(high) AS high, min(low) AS low,
       last_value(close ORDER BY ts) AS close, sum(volume) AS volume, count(*) AS trades
FROM bronze.prices
GROUP BY symbol, date_trunc('week', ts);

CREATE TABLE silver.monthly_bars AS
SELECT symbol, date_trunc('month', ts) AS bar_start,
       first_value(open ORDER BY ts) AS open, max(high) AS high, min(low) AS low,
       last_value(close ORDER BY ts) AS close, sum(volume) AS volume, count(*) AS trades
FROM bronze.prices
GROUP BY symbol, date_trunc('month', ts);

-- Every n sessions of a symbol form one bar: the row number counts them.
CREATE VIEW numbered AS
SELECT symbol, ts, open, high, low, close, volume,
       CAST(row_number() OVER (PARTITION BY symbol ORDER BY ts) AS BIGINT) - 1 AS n
FROM bronze.prices;

CREATE TABLE silver.bars_5 AS
SELECT symbol, min(ts) AS bar_start,
       first_value(open ORDER BY ts) AS open, max(high) AS high, min(low) AS low,
       last_value(close ORDER BY ts) AS close, sum(volume) AS volume, count(*) AS trades
FROM numbered
GROUP BY symbol, n / 5;

CREATE TABLE silver.bars_21 AS
SELECT symbol, min(ts) AS bar_start,
       first_value(open ORDER BY ts) AS open, max(high) AS high, min(low) AS low,
       last_value(close ORDER BY ts) AS close, sum(volume) AS volume, count(*) AS trades
FROM numbered
GROUP BY symbol, n / 21;

CREATE TABLE gold.rolling AS
SELECT symbol, ts, close, r,
       avg(close) OVER w20 AS avg_20, stddev(close) OVER w20 AS sd_20,
       avg(close) OVER w50 AS avg_50, avg(close) OVER w200 AS avg_200,
       CASE WHEN count(r) OVER w20 = 20 THEN stddev(r) OVER w20 END AS vol_20
FROM (SELECT symbol, ts, close, ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY ts)) AS r
      FROM bronze.prices)
WINDOW w20 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
       w50 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
       w200 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 199 PRECEDING AND CURRENT ROW);
