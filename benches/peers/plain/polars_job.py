"""The plain-SQL peer pipeline in Polars (2 threads), written natively: lazy frames, a bar's open and close by
arg_min/arg_max of the timestamp, rolling_* over each symbol. Parquet in, Parquet out.
usage: polars_job.py BRONZE_DIR OUT_DIR
"""
import os
import sys

os.environ.setdefault("POLARS_MAX_THREADS", "2")
import polars as pl  # noqa: E402

bronze, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
c = pl.col
prices = pl.scan_parquet(f"{bronze}/**/*.parquet", hive_partitioning=True)
bar = [c("open").get(c("ts").arg_min()).alias("open"), c("high").max().alias("high"), c("low").min().alias("low"),
       c("close").get(c("ts").arg_max()).alias("close"), c("volume").sum().alias("volume"),
       pl.len().cast(pl.Int64).alias("trades")]
for name, every in [("weekly_bars", "1w"), ("monthly_bars", "1mo")]:
    prices.group_by("symbol", c("ts").dt.truncate(every).alias("bar_start")).agg(bar) \
        .sink_parquet(f"{out}/{name}.parquet")
numbered = prices.sort("symbol", "ts").with_columns(n=pl.int_range(pl.len()).over("symbol"))
for size in (5, 21):
    numbered.group_by("symbol", (c("n") // size).alias("b")).agg(c("ts").min().alias("bar_start"), *bar) \
        .drop("b").sink_parquet(f"{out}/bars_{size}.parquet")
x = c("close")
r = (x / x.shift(1)).log().over("symbol")
prices.sort("symbol", "ts").select(
    "symbol", "ts", "close", r.alias("r"),
    x.rolling_mean(20, min_samples=1).over("symbol").alias("avg_20"),
    x.rolling_std(20, min_samples=2).over("symbol").alias("sd_20"),
    x.rolling_mean(50, min_samples=1).over("symbol").alias("avg_50"),
    x.rolling_mean(200, min_samples=1).over("symbol").alias("avg_200"),
).with_columns(vol_20=c("r").rolling_std(20, min_samples=20).over("symbol")) \
    .sink_parquet(f"{out}/rolling.parquet")
