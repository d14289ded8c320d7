--! after ingest.sql
-- Seed 003, second half: the processed windows from `processed-stock-data` into the PostgreSQL table
-- `processed_stock_data` for the ML application, with their indicators and features. Runs after each successful
-- run of `ingest.sql` under `strata schedule` (never at the same time as it); the ledger records which run it
-- followed.
--
--   strata run jobs/stock_stream/store.sql --kafka-brokers 127.0.0.1:9092        # STRATA_POSTGRES=host:port
--
-- Exactly once: the table stores the topic offsets it has taken in `strata.kafka_offsets`, in the transaction
-- that writes its rows. A window whose ticks arrived over two ingest runs comes as two partial rows; they are
-- merged (weighted by their tick counts) with what the table already holds, so the row always covers all its
-- ticks. Indicators follow each symbol's whole history of windows, so every window from the first one a run
-- touches onwards is rewritten. (ingest.sql removes duplicate ticks within a run; a tick fetched again in a later
-- ingest run counts in its window twice, since the processed rows carry no tick identities.)

CREATE EXTERNAL TABLE processed (
  symbol VARCHAR NOT NULL,
  window_start TIMESTAMP NOT NULL,
  window_end TIMESTAMP NOT NULL,
  avg_price DOUBLE NOT NULL,
  max_price DOUBLE NOT NULL,
  min_price DOUBLE NOT NULL,
  avg_volume DOUBLE,
  ticks BIGINT NOT NULL,
  volumes BIGINT NOT NULL
)
STORED AS KAFKA
LOCATION 'kafka:///processed-stock-data'
OPTIONS (
  'format' 'json',
  'starting_offsets' 'earliest',
  'consumer' 'stock-stream-store',
  'dead_letter' 'bronze.processed_stock_data_dead_letter'
);

CREATE EXTERNAL TABLE stock_windows (
  symbol VARCHAR NOT NULL,
  window_start TIMESTAMP NOT NULL,
  window_end TIMESTAMP NOT NULL,
  avg_price DECIMAL(18, 6) NOT NULL,
  max_price DECIMAL(18, 6) NOT NULL,
  min_price DECIMAL(18, 6) NOT NULL,
  avg_volume DECIMAL(20, 6),
  ticks BIGINT NOT NULL,
  volumes BIGINT NOT NULL,
  sma_5 DECIMAL(18, 6),
  ema_5 DECIMAL(18, 6),
  rsi_14 DECIMAL(18, 6),
  return_1 DECIMAL(18, 8),
  range_pct DECIMAL(18, 8),
  created_at TIMESTAMP DEFAULT now()
)
STORED AS POSTGRES
LOCATION 'postgres:///market'
OPTIONS (table 'processed_stock_data', key 'symbol, window_start', indexes 'window_start');

-- This run's rows, as sums (a window may come in parts).
CREATE VIEW arrived AS
SELECT
  symbol,
  window_start,
  max(window_end) AS window_end,
  sum(avg_price * ticks) AS price_sum,
  max(max_price) AS max_price,
  min(min_price) AS min_price,
  sum(coalesce(avg_volume * volumes, 0)) AS volume_sum,
  sum(ticks) AS ticks,
  sum(volumes) AS volumes
FROM processed
GROUP BY symbol, window_start;

-- Every window: the stored ones (as they were before this run) merged with this run's parts.
CREATE VIEW windows AS
SELECT
  symbol,
  window_start,
  max(window_end) AS window_end,
  sum(price_sum) / sum(ticks) AS avg_price,
  max(max_price) AS max_price,
  min(min_price) AS min_price,
  CASE WHEN sum(volumes) > 0 THEN sum(volume_sum) / sum(volumes) END AS avg_volume,
  sum(ticks) AS ticks,
  sum(volumes) AS volumes
FROM (
  SELECT
    symbol, window_start, window_end,
    CAST(avg_price AS DOUBLE) * ticks AS price_sum,
    CAST(max_price AS DOUBLE) AS max_price,
    CAST(min_price AS DOUBLE) AS min_price,
    coalesce(CAST(avg_volume AS DOUBLE) * volumes, 0) AS volume_sum,
    ticks, volumes
  FROM stock_windows
  UNION ALL
  SELECT * FROM arrived
)
GROUP BY symbol, window_start;

-- Indicators and features over each symbol's windows in time order.
CREATE VIEW features AS
SELECT
  symbol, window_start, window_end, avg_price, max_price, min_price, avg_volume, ticks, volumes,
  sma(avg_price, 5) OVER s AS sma_5,
  ema(avg_price, 5) OVER s AS ema_5,
  rsi(avg_price, 14) OVER s AS rsi_14,
  avg_price / lag(avg_price) OVER s - 1 AS return_1,
  (max_price - min_price) / avg_price AS range_pct
FROM windows
WINDOW s AS (PARTITION BY symbol ORDER BY window_start);

-- The windows this run changed, and every later one of the same symbol (their indicators moved).
INSERT INTO stock_windows
SELECT
  f.symbol, f.window_start, f.window_end, f.avg_price, f.max_price, f.min_price, f.avg_volume, f.ticks, f.volumes,
  f.sma_5, f.ema_5, f.rsi_14, f.return_1, f.range_pct
FROM features f
JOIN (SELECT symbol, min(window_start) AS since FROM arrived GROUP BY symbol) t
  ON f.symbol = t.symbol AND f.window_start >= t.since;
