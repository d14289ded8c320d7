"""The full stock pipeline (jobs/stock_market/pipeline.sql) in PySpark 4 `local[2]`: the bronze Delta table's
Parquet files (those of its current version, common.delta_files) in, the ten tables out as Parquet directories
(OUT_DIR/<table>.parquet/part-*).

Cleaning and bars are Spark SQL: ohlc_valid spelled out, the copies dropped by lag() in the pipeline's order,
return_spike as a 7-row median window shifted inwards at each symbol's edges, ohlcv as min_by/max_by, calendar buckets
by date_trunc in New York time, session buckets by a join to the NYSE calendar (common.nyse_sessions). The
indicators are common.indicators (TA-Lib and numpy) per symbol in a grouped-map Python UDF: applyInArrow, Spark 4's
Arrow-native applyInPandas (the same grouping and workers, without the pandas round trip).
usage: pyspark_job.py BRONZE_DIR OUT_DIR
"""
import datetime as dt
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
# The Python workers import common too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

import common  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402

CLEAN = """
WITH valid AS (
  -- ohlc_valid(open, high, low, close, volume): NULL and NaN prices are not valid (NaN compares above 0 in Spark).
  SELECT symbol, ts, open, high, low, close, volume,
         lag(ts) OVER (PARTITION BY symbol ORDER BY ts, volume DESC, close, open, high, low) AS previous_ts
  FROM bronze
  WHERE open > 0 AND high > 0 AND low > 0 AND close > 0
    AND NOT (isnan(open) OR isnan(high) OR isnan(low) OR isnan(close))
    AND low <= least(open, close) AND high >= greatest(open, close) AND volume >= 0),
deduplicated AS (
  -- The first row of each (symbol, ts) in this order wins. `around`: the (up to) 7 closes around the row, sorted
  -- (Spark's median takes no window frame).
  SELECT symbol, ts, open, high, low, close, volume,
         sort_array(collect_list(close) OVER (PARTITION BY symbol ORDER BY ts
                                              ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING)) AS around,
         row_number() OVER (PARTITION BY symbol ORDER BY ts) - 1 AS rn,
         count(*) OVER (PARTITION BY symbol) AS n
  FROM valid
  WHERE previous_ts IS DISTINCT FROM ts),
middles AS (
  SELECT symbol, ts, open, high, low, close, volume, rn, n,
         CASE WHEN size(around) % 2 = 1 THEN around[size(around) div 2]
              ELSE (around[size(around) div 2 - 1] + around[size(around) div 2]) / 2 END AS centred
  FROM deduplicated),
medians AS (
  -- return_spike(close, 5): the median of the 7 rows centred on a row, the window shifted inwards at a symbol's
  -- edges: rows 0-2 take row 3's window, the last three rows row n - 4's. A symbol of 3 to 6 rows takes all its
  -- rows, which is row 2's window (3 rows either side of it cover them all).
  SELECT *,
         CASE CASE WHEN n < 7 THEN 2 ELSE greatest(3, least(rn, n - 4)) END - rn
              WHEN 0 THEN centred
              WHEN 1 THEN lead(centred, 1) OVER w
              WHEN 2 THEN lead(centred, 2) OVER w
              WHEN 3 THEN lead(centred, 3) OVER w
              WHEN -1 THEN lag(centred, 1) OVER w
              WHEN -2 THEN lag(centred, 2) OVER w
              WHEN -3 THEN lag(centred, 3) OVER w END AS median7
  FROM middles
  WINDOW w AS (PARTITION BY symbol ORDER BY ts))
SELECT symbol, CAST(ts AS DATE) AS trade_date, ts, open, high, low, close, volume, CAST(year(ts) AS INT) AS year
FROM medians
WHERE n < 3 OR NOT (close > 5 * median7 OR close * 5 < median7)
"""

# ohlcv(ts, open, high, low, close, volume) unpacked: vwap is the volume-weighted typical price.
BAR = """min_by(open, ts) AS open, max(high) AS high, min(low) AS low, max_by(close, ts) AS close,
         sum(volume) AS volume,
         CASE WHEN sum(volume) <> 0 THEN sum((high + low + close) / 3 * volume) / sum(volume) END AS vwap,
         count(*) AS sessions"""
BAR_COLUMNS = "open, high, low, close, volume, vwap, sessions"
NEW_YORK = "from_utc_timestamp(ts, 'America/New_York')"  # New York wall time (the session time zone is UTC)

CALENDAR_BARS = {
    "weekly_bars": ("week_start", f"CAST(date_trunc('week', {NEW_YORK}) AS DATE)"),
    "monthly_bars": ("month_start", f"trunc(CAST({NEW_YORK} AS DATE), 'MM')"),
}

# Every calendar day with the first session of its k-session bucket for each k: the session on or before the
# day (session 0 is session_bucket's origin, 2000-01-03), bucket = floor(number / k) * k.
DAY_BUCKETS = """
SELECT day, {buckets}
FROM (SELECT day, max(s.session_number) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING) AS session_number
      FROM (SELECT explode(sequence(DATE '{first}', DATE '{last}', INTERVAL 1 DAY)) AS day) d
      LEFT JOIN sessions s ON d.day = s.session_date) y
{joins}
"""

SESSION_BARS = """
SELECT symbol, bar_start, bar_end, {columns},
       CAST(year(bar_start) AS INT) AS year, CAST(month(bar_start) AS INT) AS month
FROM (SELECT d.symbol, b.b{k} AS bar_start, max(d.trade_date) AS bar_end, {bar}
      FROM daily d JOIN day_buckets b ON d.trade_date = b.day
      GROUP BY d.symbol, b.b{k})
"""

INDICATOR_INPUT = """
SELECT d.symbol, d.trade_date, d.high, d.low, d.close, d.volume, m.index_close
FROM daily d JOIN (SELECT trade_date, avg(close) AS index_close FROM daily GROUP BY trade_date) m
  ON d.trade_date = m.trade_date
"""
INDICATOR_SCHEMA = ", ".join(
    f"{c} {'STRING' if c == 'symbol' else 'DATE' if c == 'trade_date' else 'INT' if c == 'year' else 'DOUBLE'}"
    for c in common.INDICATOR_COLUMNS
)


def symbol_indicators(table):
    """One symbol's rows (an Arrow table) -> its gold.daily_indicators rows."""
    return common.indicators(table)


def main(bronze, out):
    spark = (
        SparkSession.builder.master("local[2]").appName("strata-pipeline-peer")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    path = lambda name: os.path.join(out, f"{name}.parquet")  # noqa: E731

    spark.read.parquet(*common.delta_files(bronze)).createOrReplaceTempView("bronze")
    daily = spark.sql(CLEAN).cache()
    daily.createOrReplaceTempView("daily")
    daily.write.mode("overwrite").parquet(path("daily_bars"))

    for name, (start, bucket) in CALENDAR_BARS.items():
        spark.sql(f"""
            SELECT symbol, {start}, {BAR_COLUMNS}, CAST(year({start}) AS INT) AS year
            FROM (SELECT symbol, {bucket} AS {start}, {BAR} FROM daily GROUP BY 1, 2)
        """).write.mode("overwrite").parquet(path(name))

    first, last = spark.sql("SELECT min(trade_date), max(trade_date) FROM daily").first()
    first -= dt.timedelta(days=120)  # room for the session before the first day
    sessions = common.nyse_sessions(first, last).to_pandas()
    spark.createDataFrame(sessions, "session_date DATE, session_number BIGINT").createOrReplaceTempView("sessions")
    spark.sql(DAY_BUCKETS.format(
        first=first, last=last,
        buckets=", ".join(f"s{k}.session_date AS b{k}" for k in common.FIB),
        joins="\n".join(f"JOIN sessions s{k} ON s{k}.session_number = y.session_number - pmod(y.session_number, {k})"
                        for k in common.FIB),
    )).cache().createOrReplaceTempView("day_buckets")
    for k in common.FIB:
        spark.sql(SESSION_BARS.format(k=k, columns=BAR_COLUMNS, bar=BAR)).write.mode("overwrite") \
            .parquet(path(f"bars_{k}d"))

    spark.sql(INDICATOR_INPUT).groupBy("symbol").applyInArrow(symbol_indicators, INDICATOR_SCHEMA) \
        .write.mode("overwrite").parquet(path("daily_indicators"))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
