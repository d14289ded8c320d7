"""The peer-comparison pipeline in Polars (2 threads): reads the bronze Delta table's Parquet files, writes Parquet.

EMA-based indicators use Polars' ewm_mean (seeded with the first value rather than TA-Lib's SMA; the comparison
checks them after 300 sessions, when the seed no longer matters).
usage: polars_job.py BRONZE_DIR OUT_DIR
"""
import os
import sys

os.environ.setdefault("POLARS_MAX_THREADS", "2")
import polars as pl  # noqa: E402

bronze, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
raw = pl.scan_parquet(f"{bronze}/**/*.parquet", hive_partitioning=True)
c = pl.col
valid = (
    raw.filter((c("open") > 0) & (c("high") > 0) & (c("low") > 0) & (c("close") > 0) & (c("volume") >= 0)
               & (c("low") <= pl.min_horizontal("open", "close")) & (c("high") >= pl.max_horizontal("open", "close")))
    .sort(["symbol", "ts", "volume", "close", "open", "high", "low"], descending=[False, False, True, False, False, False, False])
    .unique(subset=["symbol", "ts"], keep="first", maintain_order=True)
)
daily = (
    valid.with_columns(
        med=c("close").rolling_median(7, center=True, min_samples=1).over("symbol"),
        n=c("close").is_not_null().cast(pl.Int32).rolling_sum(7, center=True, min_samples=1).over("symbol"),
    )
    .filter((c("n") < 3) | ((c("close") <= 5 * c("med")) & (5 * c("close") >= c("med"))))
    .select("symbol", c("ts").dt.date().alias("trade_date"), "ts", "open", "high", "low", "close", "volume")
    .collect()
)
daily.write_parquet(f"{out}/daily_bars.parquet")
bar = [c("open").first().alias("open"), c("high").max().alias("high"), c("low").min().alias("low"),
       c("close").last().alias("close"), c("volume").sum().alias("volume"), pl.len().alias("trades")]
lazy = daily.lazy().sort("symbol", "ts")
for name, every in [("weekly_bars", "1w"), ("monthly_bars", "1mo")]:
    lazy.group_by("symbol", c("trade_date").dt.truncate(every).alias("bar_start"), maintain_order=True).agg(bar) \
        .collect().write_parquet(f"{out}/{name}.parquet")
sessions = daily.select(c("trade_date").unique().sort()).with_row_index("sn")
with_sn = lazy.join(sessions.lazy(), on="trade_date").sort("symbol", "ts")
for n in [3, 5, 8, 13, 21, 34]:
    with_sn.group_by("symbol", (c("sn") // n).alias("b"), maintain_order=True) \
        .agg(c("trade_date").min().alias("bar_start"), *bar).drop("b").collect().write_parquet(f"{out}/bars_{n}d.parquet")

x = c("close")
d = x.diff().over("symbol")
gain = pl.when(d > 0).then(d).otherwise(0.0)
loss = pl.when(d < 0).then(-d).otherwise(0.0)
ag = gain.ewm_mean(alpha=1 / 14, adjust=False).over("symbol")
al = loss.ewm_mean(alpha=1 / 14, adjust=False).over("symbol")
line = (x.ewm_mean(span=12, adjust=False) - x.ewm_mean(span=26, adjust=False)).over("symbol")
r = (x / x.shift(1)).log().over("symbol")
ind = (
    lazy.with_columns(
        sma_20=x.rolling_mean(20, min_samples=20).over("symbol"),
        sma_50=x.rolling_mean(50, min_samples=50).over("symbol"),
        sma_200=x.rolling_mean(200, min_samples=200).over("symbol"),
        rsi_14=pl.when(ag + al > 0).then(100 * ag / (ag + al)).otherwise(0.0),
        bb_upper=(x.rolling_mean(20, min_samples=20) + 2 * x.rolling_std(20, min_samples=20, ddof=0)).over("symbol"),
        bb_lower=(x.rolling_mean(20, min_samples=20) - 2 * x.rolling_std(20, min_samples=20, ddof=0)).over("symbol"),
        macd=line,
        volatility_20=(r.rolling_std(20, min_samples=20, ddof=1) * 252 ** 0.5).over("symbol"),
    )
    .with_columns(macd_signal=c("macd").ewm_mean(span=9, adjust=False).over("symbol"))
    .select("symbol", "trade_date", "sma_20", "sma_50", "sma_200", "rsi_14", "bb_upper", "bb_lower", "macd",
            "macd_signal", "volatility_20")
)
ind.collect().write_parquet(f"{out}/indicators.parquet")
