"""The plain-SQL peer pipeline in DuckDB (2 threads): the bronze Delta table's Parquet files in, Parquet out.
DuckDB's best native form of each table: arg_min/arg_max for a bar's open and close, integer division `//`.
usage: duckdb_job.py BRONZE_DIR OUT_DIR
"""
import os
import sys

import duckdb

bronze, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
con.execute("SET threads = 2")
# Spills under the output folder (removed with it), not in `.tmp` of the working directory: at 16x they reach
# 11 GB.
con.execute(f"SET temp_directory = '{os.path.join(out, '.duckdb-tmp')}'")
con.execute("SET TimeZone = 'UTC'")
con.execute(f"CREATE VIEW prices AS SELECT * FROM read_parquet('{bronze}/**/*.parquet', hive_partitioning = true)")
bar = """arg_min(open, ts) AS open, max(high) AS high, min(low) AS low, arg_max(close, ts) AS close,
         sum(volume) AS volume, count(*) AS trades"""
for name, unit in [("weekly_bars", "week"), ("monthly_bars", "month")]:
    con.execute(f"COPY (SELECT symbol, date_trunc('{unit}', ts) AS bar_start, {bar} FROM prices GROUP BY 1, 2) "
                f"TO '{out}/{name}.parquet' (FORMAT parquet)")
con.execute("CREATE VIEW numbered AS SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY ts) - 1 AS n "
            "FROM prices")
for size in (5, 21):
    con.execute(f"COPY (SELECT symbol, min(ts) AS bar_start, {bar} FROM numbered GROUP BY symbol, n // {size}) "
                f"TO '{out}/bars_{size}.parquet' (FORMAT parquet)")
con.execute(f"""COPY (
SELECT symbol, ts, close, r,
       avg(close) OVER w20 AS avg_20, stddev(close) OVER w20 AS sd_20,
       avg(close) OVER w50 AS avg_50, avg(close) OVER w200 AS avg_200,
       CASE WHEN count(r) OVER w20 = 20 THEN stddev(r) OVER w20 END AS vol_20
FROM (SELECT symbol, ts, close, ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY ts)) AS r FROM prices)
WINDOW w20 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
       w50 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
       w200 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 199 PRECEDING AND CURRENT ROW)
) TO '{out}/rolling.parquet' (FORMAT parquet)""")
