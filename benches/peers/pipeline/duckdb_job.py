"""The full stock pipeline (jobs/stock_market/pipeline.sql) in DuckDB (2 threads): the bronze Delta table's
Parquet files (those of its current version) in, the ten tables out as Parquet (OUT_DIR/<table>.parquet).

DuckDB's best native form of each step: the cleaning in SQL (row_number for the copies, the median of the 7
closes around each row from lag/lead lists for the bad ticks), calendar bars with date_trunc in New York time and
arg_min/arg_max, session bars from the NYSE calendar (exchange_calendars, common.nyse_sessions) with an ASOF join,
and the indicators with TA-Lib over the Arrow result (common.indicators), as a DuckDB user computes recursive
indicators.
usage: duckdb_job.py BRONZE_DIR OUT_DIR
"""
import datetime as dt
import os
import sys

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

bronze, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
con.execute("SET threads = 2")
# Spills under the output folder (removed with it), not in `.tmp` of the working directory: at 16x they reach
# 11 GB.
con.execute(f"SET temp_directory = '{os.path.join(out, '.duckdb-tmp')}'")
con.execute("SET TimeZone = 'UTC'")
files = common.delta_files(bronze)
listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
con.execute(f"CREATE VIEW bronze AS SELECT * FROM read_parquet([{listed}])")

# Cleaning. ohlc_valid: prices present, positive and not NaN (DuckDB orders NaN above every number, IEEE and
# Strata do not), low <= min(open, close), high >= max(open, close), volume present and >= 0. The first copy of
# each (symbol, ts) by volume DESC, close, open, high, low wins. return_spike(close, 5): a close more than 5x
# above or below the median of the 7 rows around it; at a symbol's first and last 3 rows the window is shifted
# inwards (rows lo .. lo + 6, lo = max(0, min(rn - 3, n - 7))), a symbol of 3 to 6 rows is one window, and with
# fewer than 3 rows nothing is a spike. The window's values come from lag/lead (cheaper in DuckDB than a framed
# median): the 13 values around a row, sliced to the window, sorted, the middle one (or the mean of the two).
AROUND = ", ".join([f"lag(close, {i}) OVER w" for i in range(6, 0, -1)] + ["close"] +
                   [f"lead(close, {i}) OVER w" for i in range(1, 7)])
con.execute(f"""
CREATE TABLE daily AS
WITH valid AS (
  SELECT symbol, ts, open, high, low, close, volume FROM bronze
  WHERE open > 0 AND high > 0 AND low > 0 AND close > 0 AND volume >= 0
    AND NOT (isnan(open) OR isnan(high) OR isnan(low) OR isnan(close))
    AND low <= least(open, close) AND high >= greatest(open, close)
  QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY volume DESC, close, open, high, low) = 1),
numbered AS (
  SELECT *, row_number() OVER w - 1 AS rn, count(*) OVER (PARTITION BY symbol) AS n, [{AROUND}] AS around
  FROM valid WINDOW w AS (PARTITION BY symbol ORDER BY ts)),
windowed AS (
  SELECT *, greatest(0, least(rn - 3, n - 7)) - rn AS lo FROM numbered),
sorted AS (
  SELECT *, list_sort(around[7 + lo : 6 + least(n - rn, lo + 7)]) AS s FROM windowed),
med AS (
  SELECT *, (s[(len(s) + 1) // 2] + s[len(s) // 2 + 1]) / 2 AS m FROM sorted)
SELECT symbol, CAST(ts AS DATE) AS trade_date, ts, open, high, low, close, volume, CAST(year(ts) AS INT) AS year,
       CAST(ts AT TIME ZONE 'America/New_York' AS DATE) AS ny_date
FROM med
WHERE n < 3 OR NOT (close > 5 * m OR close * 5 < m)
""")
con.execute(f"COPY (SELECT * EXCLUDE (ny_date) FROM daily) TO '{out}/daily_bars.parquet' (FORMAT parquet)")

# ohlcv: open of the earliest row, close of the latest (one row per symbol and ts after cleaning, so no ties),
# vwap of the typical price, NULL when no volume. calendar_bucket(ts, unit, 'America/New_York'): the period of
# the New York date (ny_date, converted once per row above); DuckDB's weeks start on Monday.
BAR = """arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close,
         CAST(sum(volume) AS BIGINT) AS volume,
         CASE WHEN sum(volume) <> 0 THEN sum((high + low + close) / 3 * volume) / sum(volume) END AS vwap,
         count(*) AS sessions"""
for name, unit, col in [("weekly_bars", "week", "week_start"), ("monthly_bars", "month", "month_start")]:
    con.execute(f"""COPY (
      SELECT symbol, {col}, open, high, low, close, volume, vwap, sessions, CAST(year({col}) AS INT) AS year
      FROM (SELECT symbol, CAST(date_trunc('{unit}', ny_date) AS DATE) AS {col}, {BAR}
            FROM daily GROUP BY 1, 2)
    ) TO '{out}/{name}.parquet' (FORMAT parquet)""")

# session_bucket(trade_date, k): the NYSE sessions numbered from 2000-01-03 (common.nyse_sessions), each trade
# date as-of joined to the session on or before it, bucket = floor(number / k) * k, bar_start = that session.
lo, hi = con.execute("SELECT min(trade_date), max(trade_date) FROM daily").fetchall()[0]
sessions = common.nyse_sessions(lo - dt.timedelta(days=120), hi)
con.register("sessions_arrow", sessions)
con.execute("CREATE TABLE sessions AS SELECT * FROM sessions_arrow")
buckets = ", ".join(f"b{k}.session_date AS b{k}" for k in common.FIB)
joins = " ".join(f"JOIN sessions b{k} ON b{k}.session_number = s.session_number - ((s.session_number % {k}) + {k}) "
                 f"% {k}" for k in common.FIB)
con.execute(f"""
CREATE TABLE day_buckets AS
SELECT d.trade_date, {buckets}
FROM (SELECT DISTINCT trade_date FROM daily) d
ASOF JOIN sessions s ON d.trade_date >= s.session_date
{joins}
""")
con.execute("CREATE TABLE daily_b AS SELECT d.* EXCLUDE (ny_date), b.* EXCLUDE (trade_date) "
            "FROM daily d JOIN day_buckets b USING (trade_date)")
for k in common.FIB:
    con.execute(f"""COPY (
      SELECT symbol, bar_start, bar_end, open, high, low, close, volume, vwap, sessions,
             CAST(year(bar_start) AS INT) AS year, CAST(month(bar_start) AS INT) AS month
      FROM (SELECT symbol, b{k} AS bar_start, max(trade_date) AS bar_end, {BAR} FROM daily_b GROUP BY 1, 2)
    ) TO '{out}/bars_{k}d.parquet' (FORMAT parquet)""")

# Gold: market index = avg(close) per trade date, joined onto each row; indicators with TA-Lib.
t = con.sql("""
SELECT d.symbol, d.trade_date, d.high, d.low, d.close, d.volume, m.index_close
FROM daily d JOIN (SELECT trade_date, avg(close) AS index_close FROM daily GROUP BY trade_date) m USING (trade_date)
ORDER BY d.symbol, d.trade_date""").to_arrow_table()
common.write_outputs(out, "daily_indicators", common.indicators(t, presorted=True))
