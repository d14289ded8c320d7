"""The plain-SQL peer pipeline in PySpark 4 `local[2]`: Spark SQL over the bronze Delta table's Parquet files
(min_by/max_by for a bar's open and close, `div` for buckets), each table written as Parquet.
usage: pyspark_job.py BRONZE_DIR OUT_DIR
"""
import os
import sys

from pyspark.sql import SparkSession

bronze, out = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[2]").appName("strata-peers")
         .config("spark.driver.memory", "8g").config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.shuffle.partitions", "8").config("spark.ui.enabled", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
spark.read.parquet(bronze).createOrReplaceTempView("prices")
bar = """min_by(open, ts) AS open, max(high) AS high, min(low) AS low, max_by(close, ts) AS close,
         sum(volume) AS volume, count(*) AS trades"""
tables = {}
for name, unit in [("weekly_bars", "week"), ("monthly_bars", "month")]:
    tables[name] = f"SELECT symbol, date_trunc('{unit}', ts) AS bar_start, {bar} FROM prices GROUP BY 1, 2"
spark.sql("SELECT *, row_number() OVER (PARTITION BY symbol ORDER BY ts) - 1 AS n FROM prices") \
    .createOrReplaceTempView("numbered")
for size in (5, 21):
    tables[f"bars_{size}"] = f"SELECT symbol, min(ts) AS bar_start, {bar} FROM numbered GROUP BY symbol, n div {size}"
tables["rolling"] = """
SELECT symbol, ts, close, r,
       avg(close) OVER w20 AS avg_20, stddev(close) OVER w20 AS sd_20,
       avg(close) OVER w50 AS avg_50, avg(close) OVER w200 AS avg_200,
       CASE WHEN count(r) OVER w20 = 20 THEN stddev(r) OVER w20 END AS vol_20
FROM (SELECT symbol, ts, close, ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY ts)) AS r FROM prices)
WINDOW w20 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
       w50 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
       w200 AS (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 199 PRECEDING AND CURRENT ROW)"""
for name, query in tables.items():
    spark.sql(query).write.mode("overwrite").parquet(os.path.join(out, f"{name}.parquet"))
spark.stop()
