-- Stock ticks from Kafka, exactly once into Delta, windowed aggregates back out to Kafka.
--
-- The seed architecture (producer → `raw-stock-data` → Spark batch → `processed-stock-data` → storage) as one
-- job. Every run reads the messages that arrived since the last run — no message twice, none lost, even when a
-- run dies half way — because the next offsets are committed in the same Delta commits as the rows.
--
--   strata run jobs/stock_stream/ingest.sql --kafka-brokers 127.0.0.1:9092
--
-- Malformed messages (not JSON, a price that is not a number, a field the schema does not declare) land in
-- bronze.raw_ticks_dead_letter with their partition, offset, key, bytes and the reason.

CREATE EXTERNAL TABLE raw_ticks (
  symbol VARCHAR NOT NULL,
  price DOUBLE NOT NULL,
  volume BIGINT,
  "timestamp" TIMESTAMP NOT NULL,
  fetch_timestamp BIGINT
)
STORED AS KAFKA
LOCATION 'kafka:///raw-stock-data'
OPTIONS (
  'format' 'json',
  'starting_offsets' 'earliest',
  'consumer' 'stock-stream',
  'dead_letter' 'bronze.raw_ticks_dead_letter'
);

-- Processed windows, keyed by symbol so each symbol's windows stay in one partition, in order.
CREATE EXTERNAL TABLE processed_stock_data (
  symbol VARCHAR,
  window_start TIMESTAMP,
  window_end TIMESTAMP,
  avg_price DOUBLE,
  max_price DOUBLE,
  min_price DOUBLE,
  avg_volume DOUBLE,
  ticks BIGINT
)
STORED AS KAFKA
LOCATION 'kafka:///processed-stock-data'
OPTIONS ('format' 'json', 'key' 'symbol');

-- The seed's storage rules: positive prices and volumes, one row per (symbol, timestamp).
CREATE VIEW clean_ticks AS
SELECT symbol, price, volume, "timestamp", fetch_timestamp
FROM (
  SELECT *, row_number() OVER (PARTITION BY symbol, "timestamp" ORDER BY fetch_timestamp DESC) AS copy
  FROM raw_ticks
  WHERE price > 0 AND (volume IS NULL OR volume >= 0)
)
WHERE copy = 1;

-- stock_prices: every clean tick of this run, appended.
INSERT INTO bronze.stock_prices
SELECT symbol, price, volume, "timestamp", fetch_timestamp FROM clean_ticks;

-- stock_aggregates: one-minute windows of this run's ticks.
CREATE VIEW windows AS
SELECT
  symbol,
  date_bin(INTERVAL '1 minute', "timestamp") AS window_start,
  date_bin(INTERVAL '1 minute', "timestamp") + INTERVAL '1 minute' AS window_end,
  avg(price) AS avg_price,
  max(price) AS max_price,
  min(price) AS min_price,
  avg(CAST(volume AS DOUBLE)) AS avg_volume,
  count(*) AS ticks
FROM clean_ticks
GROUP BY symbol, date_bin(INTERVAL '1 minute', "timestamp");

INSERT INTO silver.stock_aggregates SELECT * FROM windows;

INSERT INTO processed_stock_data SELECT * FROM windows;
