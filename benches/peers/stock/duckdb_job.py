"""The peer-comparison pipeline in DuckDB (2 threads): reads the bronze Delta table's Parquet files, writes Parquet.

DuckDB has SQL for everything but the recursive indicators (EMA-based RSI and MACD); those run as a Python pass over
each symbol's closes (itertools.accumulate), which is how DuckDB users compute them today.
usage: duckdb_job.py BRONZE_DIR OUT_DIR
"""
import itertools
import os
import sys

import duckdb
import numpy as np
import pyarrow as pa

bronze, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW bronze AS SELECT * FROM read_parquet('{bronze}/**/*.parquet', hive_partitioning = true)")

con.execute("""
CREATE TABLE daily AS
WITH valid AS (
  SELECT symbol, ts, open, high, low, close, volume FROM bronze
  WHERE open > 0 AND high > 0 AND low > 0 AND close > 0 AND volume >= 0
    AND low <= least(open, close) AND high >= greatest(open, close)
  QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY volume DESC, close, open, high, low) = 1),
m AS (
  SELECT *, median(close) OVER w AS med, count(*) OVER w AS n FROM valid
  WINDOW w AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND 3 FOLLOWING))
SELECT symbol, CAST(ts AS DATE) AS trade_date, ts, open, high, low, close, volume FROM m
WHERE n < 3 OR (close <= 5 * med AND 5 * close >= med)
""")
con.execute(f"COPY daily TO '{out}/daily_bars.parquet' (FORMAT parquet)")

bar = """arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close,
         sum(volume) AS volume, count(*) AS trades"""
for name, unit in [("weekly_bars", "week"), ("monthly_bars", "month")]:
    con.execute(f"COPY (SELECT symbol, CAST(date_trunc('{unit}', ts) AS DATE) AS bar_start, {bar} FROM daily GROUP BY 1, 2) "
                f"TO '{out}/{name}.parquet' (FORMAT parquet)")
con.execute("CREATE TABLE sessions AS SELECT trade_date, row_number() OVER (ORDER BY trade_date) - 1 AS sn "
            "FROM (SELECT DISTINCT trade_date FROM daily)")
for n in [3, 5, 8, 13, 21, 34]:
    con.execute(f"""COPY (SELECT symbol, min(d.trade_date) AS bar_start, {bar}
                    FROM daily d JOIN sessions s USING (trade_date) GROUP BY symbol, s.sn // {n})
                    TO '{out}/bars_{n}d.parquet' (FORMAT parquet)""")

ind = con.sql("""
SELECT symbol, trade_date, close,
  CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 END AS sma_20,
  CASE WHEN count(close) OVER w50 = 50 THEN avg(close) OVER w50 END AS sma_50,
  CASE WHEN count(close) OVER w200 = 200 THEN avg(close) OVER w200 END AS sma_200,
  CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 + 2 * stddev_pop(close) OVER w20 END AS bb_upper,
  CASE WHEN count(close) OVER w20 = 20 THEN avg(close) OVER w20 - 2 * stddev_pop(close) OVER w20 END AS bb_lower,
  CASE WHEN count(r) OVER w20 = 20 THEN stddev_samp(r) OVER w20 * sqrt(252) END AS volatility_20
FROM (SELECT *, ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY trade_date)) AS r FROM daily)
WINDOW w20 AS (PARTITION BY symbol ORDER BY trade_date ROWS 19 PRECEDING),
       w50 AS (PARTITION BY symbol ORDER BY trade_date ROWS 49 PRECEDING),
       w200 AS (PARTITION BY symbol ORDER BY trade_date ROWS 199 PRECEDING)
ORDER BY symbol, trade_date""").to_arrow_table()

# EMA-based indicators, TA-Lib seeding (SMA of the first n values), per symbol.
close = ind.column("close").to_numpy()
symbols = ind.column("symbol").to_numpy(zero_copy_only=False)
starts = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1]])
ends = np.r_[starts[1:], len(symbols)]


def ema(x, n, seed_end=None):
    """EMA with the SMA seed ending at index seed_end (default n - 1); NaN before it."""
    seed_end = n - 1 if seed_end is None else seed_end
    out = np.full(len(x), np.nan)
    if len(x) <= seed_end:
        return out
    k = 2.0 / (n + 1)
    seed = float(np.mean(x[seed_end + 1 - n:seed_end + 1]))
    out[seed_end:] = list(itertools.accumulate(x[seed_end + 1:], lambda p, v: p + k * (v - p), initial=seed))
    return out


def wilder(x, n):
    out = np.full(len(x) + 1, np.nan)
    if len(x) < n:
        return out[1:]
    seed = float(np.mean(x[:n]))
    out[n:] = list(itertools.accumulate(x[n:], lambda p, v: (p * (n - 1) + v) / n, initial=seed))
    return out[1:]


rsi = np.full(len(close), np.nan)
macd = np.full(len(close), np.nan)
signal = np.full(len(close), np.nan)
for a, b in zip(starts, ends):
    x = close[a:b]
    d = np.diff(x)
    g, l = wilder(np.maximum(d, 0), 14), wilder(np.maximum(-d, 0), 14)
    with np.errstate(invalid="ignore", divide="ignore"):
        rsi[a + 1:b] = np.where(g + l > 0, 100 * g / (g + l), 0.0)
    line = ema(x, 12, 25) - ema(x, 26)
    sig = ema(np.nan_to_num(line[25:]), 9)
    if b - a > 33:
        macd[a + 33:b] = line[33:]
        signal[a + 33:b] = sig[8:]
ind = ind.append_column("rsi_14", pa.array(rsi, from_pandas=True))
ind = ind.append_column("macd", pa.array(macd, from_pandas=True))
ind = ind.append_column("macd_signal", pa.array(signal, from_pandas=True))
con.register("ind", ind)
con.execute(f"COPY (SELECT * EXCLUDE (close) FROM ind) TO '{out}/indicators.parquet' (FORMAT parquet)")
