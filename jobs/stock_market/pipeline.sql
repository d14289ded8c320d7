-- Stock market batch pipeline: raw daily prices (bronze) -> cleaned daily bars, calendar bars and Fibonacci
-- session bars (silver) -> daily indicators (gold). Functions: docs/functions.md.
--
-- Input: a Delta table of daily OHLCV rows (symbol, ts, open, high, low, close, volume, year), e.g. from
--   strata generate market --symbols 50 --start 2015-01-01 --end 2024-12-31 --defect-rate 0.01 \
--       --out warehouse/bronze/market_daily
-- Relative LOCATIONs and CREATE TABLE outputs live in the warehouse (--warehouse, default ./warehouse).
--
-- `strata schedule jobs/stock_market` runs it daily at 21:00 UTC, after the US close, as the seed's EventBridge
-- trigger does (docs/pipelines/002-bronze-silver-fibonacci.md):
--! schedule '0 21 * * *' retries 3 backoff 5m

-- `event_time` makes runs incremental: each run reads only the sessions newer than the last successful run's
-- (plus the history its windows need); `--full-refresh` and `--backfill FROM TO` choose otherwise. `lateness`
-- reads the last three days again every run, so a bar one symbol's feed delivers late is still taken.
CREATE EXTERNAL TABLE bronze.market_daily
STORED AS DELTA
LOCATION 'bronze/market_daily'
OPTIONS ('event_time' 'ts', 'lateness' '3d');

-- Each symbol's company name, sector and market cap (`strata generate market` writes it beside the prices; the
-- seed's metadata fetcher keeps it in PostgreSQL's symbol_metadata).
CREATE EXTERNAL TABLE bronze.symbol_metadata
STORED AS DELTA
LOCATION 'bronze/symbol_metadata';

-- Cleaning, step 1: keep consistent bars (prices present and positive, low <= open, close <= high, volume >= 0),
-- one per symbol and session; copies are resolved deterministically.
CREATE VIEW valid_prices AS
SELECT symbol, ts, open, high, low, close, volume
FROM bronze.market_daily
WHERE ohlc_valid(open, high, low, close, volume)
-- The first row of each (symbol, ts) in this order wins; ordering by symbol and ts here lets the bad-tick
-- window below reuse the same sort.
QUALIFY lag(ts) OVER (PARTITION BY symbol ORDER BY ts, volume DESC, close, open, high, low) IS DISTINCT FROM ts;

-- Cleaning, step 2: drop bad ticks, closes 5x away from the median of the seven sessions around them.
CREATE VIEW clean_prices AS
SELECT symbol, ts, open, high, low, close, volume
FROM valid_prices
QUALIFY NOT return_spike(close, 5) OVER (PARTITION BY symbol ORDER BY ts);

CREATE TABLE silver.daily_bars PARTITIONED BY (year) EVENT TIME (trade_date) AS
SELECT symbol,
       CAST(ts AS DATE) AS trade_date,
       ts,
       open, high, low, close, volume,
       CAST(date_part('year', ts) AS INT) AS year
FROM clean_prices;

-- Calendar bars in New York time: weeks start on Monday. open = first open, close = last close by time.

CREATE TABLE silver.weekly_bars PARTITIONED BY (year) EVENT TIME (week_start) AS
SELECT symbol, week_start,
       bar['open'] AS open, bar['high'] AS high, bar['low'] AS low, bar['close'] AS close,
       CAST(bar['volume'] AS BIGINT) AS volume, bar['vwap'] AS vwap, bar['trades'] AS sessions,
       CAST(date_part('year', week_start) AS INT) AS year
FROM (
  SELECT symbol, calendar_bucket(ts, 'week', 'America/New_York') AS week_start,
         ohlcv(ts, open, high, low, close, volume) AS bar
  FROM silver.daily_bars
  GROUP BY 1, 2
);

CREATE TABLE silver.monthly_bars PARTITIONED BY (year) EVENT TIME (month_start) AS
SELECT symbol, month_start,
       bar['open'] AS open, bar['high'] AS high, bar['low'] AS low, bar['close'] AS close,
       CAST(bar['volume'] AS BIGINT) AS volume, bar['vwap'] AS vwap, bar['trades'] AS sessions,
       CAST(date_part('year', month_start) AS INT) AS year
FROM (
  SELECT symbol, calendar_bucket(ts, 'month', 'America/New_York') AS month_start,
         ohlcv(ts, open, high, low, close, volume) AS bar
  FROM silver.daily_bars
  GROUP BY 1, 2
);

-- Fibonacci bars: 3, 5, 8, 13, 21 and 34 consecutive NYSE sessions, counted from a fixed origin on the exchange
-- calendar, so a bar never moves when new sessions arrive. One template writes the six tables (silver.bars_3d …
-- silver.bars_34d); `strata explain` shows each copy expanded.

FOR n IN (3, 5, 8, 13, 21, 34) DO
CREATE TABLE silver.bars_{n}d PARTITIONED BY (year, month) EVENT TIME (bar_start) AS
SELECT symbol, bar_start, bar_end,
       bar['open'] AS open, bar['high'] AS high, bar['low'] AS low, bar['close'] AS close,
       CAST(bar['volume'] AS BIGINT) AS volume, bar['vwap'] AS vwap, bar['trades'] AS sessions,
       CAST(date_part('year', bar_start) AS INT) AS year, CAST(date_part('month', bar_start) AS INT) AS month
FROM (
  SELECT symbol, session_bucket(trade_date, {n}) AS bar_start, max(trade_date) AS bar_end,
         ohlcv(ts, open, high, low, close, volume) AS bar
  FROM silver.daily_bars
  GROUP BY 1, 2
);
END FOR;

-- A price-weighted market index (like the Dow) to measure each symbol's relative strength against.
CREATE VIEW market_index AS
SELECT trade_date, avg(close) AS index_close
FROM silver.daily_bars
GROUP BY trade_date;

-- Each sector's index: the average close of its symbols that traded that day.
CREATE VIEW sector_index AS
SELECT m.sector, d.trade_date, avg(d.close) AS sector_close
FROM silver.daily_bars d
JOIN bronze.symbol_metadata m ON d.symbol = m.symbol
GROUP BY m.sector, d.trade_date;

-- Sector relative strength: each symbol's growth over 20 and 60 sessions against its sector's (above 1: leading its
-- sector), and its sector's against the market's. It reads the metadata, which has no event time, so every run
-- recomputes it whole (a sector change restates history).
CREATE TABLE gold.sector_strength PARTITIONED BY (year) EVENT TIME (trade_date) AS
SELECT d.symbol, d.trade_date, m.name, m.sector, m.market_cap, d.close, s.sector_close, x.index_close,
       relative_strength(d.close, s.sector_close, 20) OVER w AS rs_sector_20,
       relative_strength(d.close, s.sector_close, 60) OVER w AS rs_sector_60,
       relative_strength(s.sector_close, x.index_close, 20) OVER w AS sector_vs_market_20,
       d.year
FROM silver.daily_bars d
JOIN bronze.symbol_metadata m ON d.symbol = m.symbol
JOIN sector_index s ON s.sector = m.sector AND s.trade_date = d.trade_date
JOIN market_index x ON x.trade_date = d.trade_date
WINDOW w AS (PARTITION BY d.symbol ORDER BY d.trade_date);

-- Every indicator of a symbol in one pass: all share the window w, so the data is sorted once.
CREATE VIEW indicators AS
SELECT d.symbol, d.trade_date, d.close,
       sma(d.close, 20) OVER w AS sma_20,
       sma(d.close, 50) OVER w AS sma_50,
       sma(d.close, 200) OVER w AS sma_200,
       ema(d.close, 12) OVER w AS ema_12,
       ema(d.close, 26) OVER w AS ema_26,
       rsi(d.close, 14) OVER w AS rsi_14,
       macd_line(d.close, 12, 26, 9) OVER w AS macd,
       macd_signal(d.close, 12, 26, 9) OVER w AS macd_signal,
       macd_hist(d.close, 12, 26, 9) OVER w AS macd_hist,
       bbands_upper(d.close, 20, 2) OVER w AS bb_upper,
       bbands_middle(d.close, 20, 2) OVER w AS bb_middle,
       bbands_lower(d.close, 20, 2) OVER w AS bb_lower,
       atr(d.high, d.low, d.close, 14) OVER w AS atr_14,
       roc(d.close, 10) OVER w AS roc_10,
       linearreg_slope(d.close, 20) OVER w AS trend_slope_20,
       obv(d.close, d.volume) OVER w AS obv,
       volatility(d.close, 20) OVER w AS volatility_20,
       vwap((d.high + d.low + d.close) / 3, d.volume, 20) OVER w AS vwap_20,
       relative_strength(d.close, m.index_close, 20) OVER w AS rs_20,
       d.year
FROM silver.daily_bars d
JOIN market_index m ON d.trade_date = m.trade_date
WINDOW w AS (PARTITION BY d.symbol ORDER BY d.trade_date);

-- Golden (1) and death (-1) crosses of the 50- and 200-session averages.
CREATE TABLE gold.daily_indicators PARTITIONED BY (year) EVENT TIME (trade_date) AS
SELECT *, crossover(sma_50, sma_200) OVER (PARTITION BY symbol ORDER BY trade_date) AS sma_cross
FROM indicators;
