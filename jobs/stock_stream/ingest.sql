--! schedule '*/5 * * * *'
-- Seed 003, first half: stock ticks from Kafka, cleaned and validated exactly once into Delta, one-minute windows
-- out to the topic `processed-stock-data`. `store.sql` runs after each successful run of this job (as the seed's
-- Airflow DAGs chain processing and storage) and stores the windows, with their indicators, in PostgreSQL.
--
--   strata run jobs/stock_stream/ingest.sql --kafka-brokers 127.0.0.1:9092
--   strata schedule jobs/stock_stream --kafka-brokers 127.0.0.1:9092     # every 5 minutes, store.sql after it
--
-- Every run reads the messages that arrived since the last run — no message twice, none lost, even when a run dies
-- half way — because the next offsets are committed in the same Delta commits as the rows. Malformed messages (not
-- JSON, a price that is not a number, a field the schema does not declare) land in bronze.raw_ticks_dead_letter with
-- their partition, offset, key, bytes and the reason; ticks that fail a validation rule are counted per rule in the
-- run summary and the ledger.
--
-- The topic gets each run's windows exactly once, through the sink's outbox (docs/kafka.md, Sinks): a run killed
-- at any point, also while producing, never adds a window twice nor loses one.

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

-- Processed windows, keyed by symbol so each symbol's windows stay in one partition, in order. `ticks` and `volumes`
-- (ticks with a volume) let a reader merge two partial rows of one window (its ticks arrived over two runs).
CREATE EXTERNAL TABLE processed_stock_data (
  symbol VARCHAR,
  window_start TIMESTAMP,
  window_end TIMESTAMP,
  avg_price DOUBLE,
  max_price DOUBLE,
  min_price DOUBLE,
  avg_volume DOUBLE,
  ticks BIGINT,
  volumes BIGINT
)
STORED AS KAFKA
LOCATION 'kafka:///processed-stock-data'
OPTIONS ('format' 'json', 'key' 'symbol');

-- Validation: positive prices, no negative volumes; each failing tick is dropped and counted per rule.
CREATE VIEW valid_ticks (
  CONSTRAINT positive_price EXPECT (price > 0) ON VIOLATION DROP ROW,
  CONSTRAINT non_negative_volume EXPECT (volume IS NULL OR volume >= 0) ON VIOLATION DROP ROW
) AS
SELECT symbol, price, volume, "timestamp", fetch_timestamp FROM raw_ticks;

-- One tick per (symbol, timestamp) of this run, the last fetched valid one (the seed's "unique message IDs and
-- deduplication"). A tick fetched again in a later run is a tick of that run too.
CREATE VIEW clean_ticks AS
SELECT symbol, price, volume, "timestamp", fetch_timestamp
FROM (
  SELECT *, row_number() OVER (PARTITION BY symbol, "timestamp" ORDER BY fetch_timestamp DESC NULLS LAST, price) AS copy
  FROM valid_ticks
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
  count(*) AS ticks,
  count(volume) AS volumes
FROM clean_ticks
GROUP BY symbol, date_bin(INTERVAL '1 minute', "timestamp");

INSERT INTO silver.stock_aggregates SELECT * FROM windows;

INSERT INTO processed_stock_data SELECT * FROM windows;
