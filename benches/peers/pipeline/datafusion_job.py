"""The full stock pipeline (jobs/stock_market/pipeline.sql) in datafusion-python 55 (2 target partitions): Strata's
engine without Strata's functions. The bronze Delta table is read by DataFusion's Parquet scan (or, when the
directory holds files of older versions, the deltalake package's table provider). Cleaning and bars are plain
DataFusion SQL: ohlc_valid spelled out, return_spike as a 7-row median window shifted inwards at each symbol's
edges, ohlcv as first_value/last_value ORDER BY ts, calendar buckets by date_trunc in New York time, session buckets
by a join to the NYSE calendar (common.nyse_sessions). The indicators are common.indicators (TA-Lib and numpy) on
the Arrow result.
usage: datafusion_job.py BRONZE_DIR OUT_DIR
"""
import datetime as dt
import glob
import os
import sys

from datafusion import SessionConfig, SessionContext
from deltalake import DeltaTable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIB, delta_files, indicators, nyse_sessions, write_outputs  # noqa: E402

CLEAN = """
WITH valid AS (
  -- ohlc_valid(open, high, low, close, volume): NULL and NaN prices are not valid (NaN compares above 0 here).
  SELECT symbol, ts, open, high, low, close, volume,
         lag(ts) OVER (PARTITION BY symbol ORDER BY ts, volume DESC, close, open, high, low) AS previous_ts
  FROM bronze
  WHERE open > 0 AND high > 0 AND low > 0 AND close > 0
    AND NOT (isnan(open) OR isnan(high) OR isnan(low) OR isnan(close))
    AND low <= least(open, close) AND high >= greatest(open, close) AND volume >= 0),
deduplicated AS (
  -- The first row of each (symbol, ts) in this order wins.
  SELECT symbol, ts, open, high, low, close, volume,
         -- The window spelled out: DataFusion 55 drops a named window's PARTITION BY and ORDER BY when
         -- OVER (w ROWS ...) adds a frame to it.
         median(close) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING) AS centred,
         CAST(row_number() OVER (PARTITION BY symbol ORDER BY ts) AS BIGINT) - 1 AS rn,  -- not UInt64 - 1
         count(*) OVER (PARTITION BY symbol) AS n
  FROM valid
  WHERE previous_ts IS DISTINCT FROM ts),
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
  FROM deduplicated
  WINDOW w AS (PARTITION BY symbol ORDER BY ts))
SELECT arrow_cast(symbol, 'Utf8') AS symbol,  -- read as Utf8View, which the Parquet writer loses
       CAST(ts AS DATE) AS trade_date, ts, open, high, low, close, volume, CAST(date_part('year', ts) AS INT) AS year
FROM medians
WHERE n < 3 OR NOT (close > 5 * median7 OR close * 5 < median7)
"""

# ohlcv(ts, open, high, low, close, volume) unpacked: vwap is the volume-weighted typical price.
BAR = """first_value(open ORDER BY ts) AS open, max(high) AS high, min(low) AS low,
         last_value(close ORDER BY ts) AS close, sum(volume) AS volume,
         CASE WHEN sum(volume) <> 0 THEN sum((high + low + close) / 3 * volume) / sum(volume) END AS vwap,
         count(*) AS sessions"""
BAR_COLUMNS = "open, high, low, close, volume, vwap, sessions"

CALENDAR_BARS = """
SELECT symbol, {start}, {columns}, CAST(date_part('year', {start}) AS INT) AS year
FROM (SELECT symbol, CAST(date_trunc('{unit}', ts AT TIME ZONE 'America/New_York') AS DATE) AS {start}, {bar}
      FROM daily GROUP BY 1, 2)
"""

# Every calendar day with the NYSE session on or before it (session 0 is session_bucket's origin, 2000-01-03).
DAYS = """
SELECT day, max(s.session_number) OVER (ORDER BY day ROWS UNBOUNDED PRECEDING) AS session_number
FROM (SELECT CAST(value AS DATE) AS day FROM generate_series(DATE '{first}', DATE '{last}', INTERVAL '1 day')) d
LEFT JOIN sessions s ON d.day = s.session_date
"""

# session_bucket(trade_date, k): the first session of the k-session bucket, buckets counted from the origin.
SESSION_BARS = """
SELECT symbol, bar_start, bar_end, {columns},
       CAST(date_part('year', bar_start) AS INT) AS year, CAST(date_part('month', bar_start) AS INT) AS month
FROM (SELECT d.symbol, b.session_date AS bar_start, max(d.trade_date) AS bar_end, {bar}
      FROM daily d
      JOIN days y ON d.trade_date = y.day
      JOIN sessions b ON b.session_number = y.session_number - ((y.session_number % {k}) + {k}) % {k}
      GROUP BY d.symbol, b.session_date)
"""

INDICATOR_INPUT = """
SELECT d.symbol, d.trade_date, d.high, d.low, d.close, d.volume, m.index_close
FROM daily d JOIN (SELECT trade_date, avg(close) AS index_close FROM daily GROUP BY trade_date) m
  ON d.trade_date = m.trade_date
ORDER BY d.symbol, d.trade_date
"""


def register_bronze(ctx, bronze):
    """The bronze Delta table as `bronze`: DataFusion's own Parquet scan of the directory when it holds exactly the
    files of the table's current version (a fresh table), else the deltalake package's table provider (its FFI
    scan is some 10% slower)."""
    current = {os.path.realpath(f) for f in delta_files(bronze)}
    on_disk = {os.path.realpath(f) for f in glob.glob(os.path.join(bronze, "**", "*.parquet"), recursive=True)}
    if current == on_disk:
        ctx.register_parquet("bronze", bronze, file_extension=".parquet")
    else:
        ctx.register_table("bronze", DeltaTable(bronze))


def main(bronze, out):
    os.makedirs(out, exist_ok=True)
    ctx = SessionContext(SessionConfig().with_target_partitions(2))
    register_bronze(ctx, bronze)

    daily = ctx.sql(CLEAN).cache()
    ctx.register_view("daily", daily)
    daily.write_parquet(os.path.join(out, "daily_bars.parquet"))

    first, last = ctx.sql("SELECT min(trade_date), max(trade_date) FROM daily").to_arrow_table().to_pylist()[0].values()
    first -= dt.timedelta(days=120)  # room for the session before the first day
    ctx.register_record_batches("sessions", [nyse_sessions(first, last).to_batches()])
    ctx.register_view("days", ctx.sql(DAYS.format(first=first, last=last)).cache())

    queries = {
        "weekly_bars": CALENDAR_BARS.format(start="week_start", unit="week", columns=BAR_COLUMNS, bar=BAR),
        "monthly_bars": CALENDAR_BARS.format(start="month_start", unit="month", columns=BAR_COLUMNS, bar=BAR),
        **{f"bars_{k}d": SESSION_BARS.format(k=k, columns=BAR_COLUMNS, bar=BAR) for k in FIB},
    }
    for name, query in queries.items():
        ctx.sql(query).write_parquet(os.path.join(out, f"{name}.parquet"))

    write_outputs(out, "daily_indicators", indicators(ctx.sql(INDICATOR_INPUT).to_arrow_table(), presorted=True))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
