-- The peer-comparison pipeline (benches/peers/run.sh): the same work as duckdb_job.py and polars_job.py.
-- Clean, calendar and Fibonacci bars, then SMA 20/50/200, RSI 14, Bollinger 20/2, MACD 12/26/9 and volatility.
-- ${origin}: the first session of the data; Fibonacci buckets are counted from it, as the peers count them.

CREATE EXTERNAL TABLE bronze.market_daily STORED AS DELTA LOCATION 'bronze/market_daily';

CREATE VIEW valid_prices AS
SELECT symbol, ts, open, high, low, close, volume
FROM bronze.market_daily
WHERE ohlc_valid(open, high, low, close, volume)
-- The first row of each (symbol, ts) in this order wins; ordering by symbol and ts here lets the bad-tick
-- window below reuse the same sort.
QUALIFY lag(ts) OVER (PARTITION BY symbol ORDER BY ts, volume DESC, close, open, high, low) IS DISTINCT FROM ts;

CREATE TABLE silver.daily_bars AS
SELECT symbol, CAST(ts AS DATE) AS trade_date, ts, open, high, low, close, volume
FROM valid_prices
QUALIFY NOT return_spike(close, 5) OVER (PARTITION BY symbol ORDER BY ts);

CREATE TABLE silver.weekly_bars AS
SELECT symbol, calendar_bucket(ts, 'week') AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.monthly_bars AS
SELECT symbol, calendar_bucket(ts, 'month') AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.bars_3d AS
SELECT symbol, session_bucket(trade_date, 3, ${origin}) AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.bars_5d AS
SELECT symbol, session_bucket(trade_date, 5, ${origin}) AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.bars_8d AS
SELECT symbol, session_bucket(trade_date, 8, ${origin}) AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.bars_13d AS
SELECT symbol, session_bucket(trade_date, 13, ${origin}) AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.bars_21d AS
SELECT symbol, session_bucket(trade_date, 21, ${origin}) AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE silver.bars_34d AS
SELECT symbol, session_bucket(trade_date, 34, ${origin}) AS bar_start, ohlcv(ts, open, high, low, close, volume) AS bar
FROM silver.daily_bars GROUP BY 1, 2;

CREATE TABLE gold.indicators AS
SELECT symbol, trade_date,
       sma(close, 20) OVER w AS sma_20, sma(close, 50) OVER w AS sma_50, sma(close, 200) OVER w AS sma_200,
       rsi(close, 14) OVER w AS rsi_14,
       bbands_upper(close, 20, 2) OVER w AS bb_upper, bbands_lower(close, 20, 2) OVER w AS bb_lower,
       macd_line(close, 12, 26, 9) OVER w AS macd, macd_signal(close, 12, 26, 9) OVER w AS macd_signal,
       volatility(close, 20) OVER w AS volatility_20
FROM silver.daily_bars
WINDOW w AS (PARTITION BY symbol ORDER BY trade_date);
