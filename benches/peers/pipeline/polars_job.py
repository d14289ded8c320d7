"""The full stock pipeline (jobs/stock_market/pipeline.sql) in Polars, lazy API, 2 threads: bronze Delta table's
current version (scan_delta) -> the ten silver and gold tables as OUT_DIR/<table>.parquet.

Everything is native Polars: cleaning (ohlc_valid, dedup by the pipeline's QUALIFY order, return_spike as a centred
7-row rolling median shifted inwards at each symbol's edges), calendar bars in New York time, session bars by an
as-of join to the NYSE calendar (common.nyse_sessions), and the indicators as Polars expressions with TA-Lib's
seeding (an EMA / Wilder average starts from the SMA of its first values: the seed is put in place of the first
value and the rows before it are NULL, so ewm_mean(adjust=False) runs the same recursion).
usage: polars_job.py BRONZE_DIR OUT_DIR
"""
import datetime as dt
import os
import sys

os.environ["POLARS_MAX_THREADS"] = "2"
import polars as pl  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIB, nyse_sessions  # noqa: E402

c = pl.col


def cleaned(bronze):
    """silver.daily_bars: valid, deduplicated, bad ticks dropped."""
    raw = pl.scan_delta(bronze)
    prices = ["open", "high", "low", "close"]
    ok = pl.all_horizontal(*[c(p).is_not_null() & c(p).is_not_nan() & (c(p) > 0) for p in prices])
    ok = ok & (c("low") <= pl.min_horizontal("open", "close")) & (c("high") >= pl.max_horizontal("open", "close"))
    ok = ok & c("volume").is_not_null() & (c("volume") >= 0)
    valid = (
        raw.select("symbol", "ts", *prices, "volume")
        .filter(ok)
        # The first row of each (symbol, ts) in the pipeline's QUALIFY order wins.
        .sort(["symbol", "ts", "volume", "close", "open", "high", "low"],
              descending=[False, False, True, False, False, False, False])
        .unique(subset=["symbol", "ts"], keep="first", maintain_order=True)
    )
    # return_spike(close, 5): the median of the 7 rows centred on a row, the window shifted inwards at a symbol's
    # edges (so rows 0-2 use rows 0-6, the last three the last seven); a symbol of < 7 rows uses all its rows,
    # one of < 3 rows has no spikes. A full centred window's median filled backwards then forwards is exactly that.
    n = pl.len().over("symbol")
    med = (
        pl.when(n >= 7)
        .then(c("close").rolling_median(7, center=True).over("symbol"))
        .otherwise(c("close").median().over("symbol"))
    )
    return (
        valid.with_columns(med=med, n=n)
        .with_columns(med=c("med").backward_fill().forward_fill().over("symbol"))
        .filter((c("n") < 3) | ~((c("close") > 5 * c("med")) | (c("close") * 5 < c("med"))))
        .select("symbol", c("ts").dt.date().alias("trade_date"), "ts", *prices, "volume",
                c("ts").dt.year().cast(pl.Int32).alias("year"))
    )


# ohlcv(ts, open, high, low, close, volume) over rows sorted by (symbol, ts): groups keep the row order.
BAR = [
    c("open").first().alias("open"), c("high").max().alias("high"), c("low").min().alias("low"),
    c("close").last().alias("close"), c("volume").sum().alias("volume"),
    pl.when(c("volume").sum() != 0)
    .then(((c("high") + c("low") + c("close")) / 3 * c("volume")).sum() / c("volume").sum())
    .alias("vwap"),
    pl.len().cast(pl.Int64).alias("sessions"),
]
BAR_COLUMNS = ["open", "high", "low", "close", "volume", "vwap", "sessions"]


def calendar_bars(daily, unit, start):
    local = c("ts").dt.convert_time_zone("America/New_York").dt.date()
    bucket = local.dt.truncate("1w") if unit == "week" else local.dt.month_start()
    return (
        daily.group_by("symbol", bucket.alias(start)).agg(BAR)
        .select("symbol", start, *BAR_COLUMNS, c(start).dt.year().cast(pl.Int32).alias("year"))
    )


def session_bars(daily, k):
    # bucket = floor(session_number / k) * k (session 0 is the origin 2000-01-03); bar_start is its session.
    return (
        daily.group_by("symbol", c(f"bucket_{k}").alias("bar_start"))
        .agg(c("trade_date").max().alias("bar_end"), *BAR)
        .select("symbol", "bar_start", "bar_end", *BAR_COLUMNS,
                c("bar_start").dt.year().cast(pl.Int32).alias("year"),
                c("bar_start").dt.month().cast(pl.Int32).alias("month"))
    )


def seeded(x, seed, at):
    """x with rows before `at` NULL and row `at` replaced by `seed` (row numbers per symbol)."""
    i = pl.int_range(pl.len()).over("symbol")
    return pl.when(i < at).then(None).when(i == at).then(seed).otherwise(x)


def ema(x, n, seed_at=None, alpha=None):
    """TA-Lib EMA (alpha 2 / (n + 1)) or Wilder average (alpha 1 / n) of x: seeded with the mean of the n values
    ending at row seed_at (default n - 1)."""
    seed_at = n - 1 if seed_at is None else seed_at
    seed = x.rolling_mean(n).over("symbol")
    s = seeded(x, seed, seed_at)
    return s.ewm_mean(alpha=alpha or 2 / (n + 1), adjust=False).over("symbol")


def talib_sma(frame, periods):
    """TA-Lib's SMA to the last bit: one running total per symbol, adding each value and, once the window is full,
    subtracting the one leaving it. That is a cumulative sum over the values interleaved with their negated
    leaving values, read at every other element. (rolling_mean rounds differently, which flips
    crossover(sma_50, sma_200) where the two averages are equal.) `frame` is sorted by symbol."""
    x = c("close")
    names = [f"sma_{n}" for n in periods]
    totals = [
        pl.concat_list(x, (-x.shift(n - 1)).fill_null(0.0)).explode().cum_sum().gather_every(2).alias(name)
        for n, name in zip(periods, names)
    ]
    # Polars divides by a scalar as a multiplication by its reciprocal (1 ulp off): divide by a column of n.
    divisor = lambda n: (pl.int_range(pl.len()) * 0 + n).cast(pl.Float64)  # noqa: E731
    sma = (
        frame.group_by("symbol", maintain_order=True).agg(*totals).explode(names)
        .select(*[c(name) / divisor(n) for n, name in zip(periods, names)])
    )
    i = pl.int_range(pl.len()).over("symbol")
    return (
        pl.concat([frame, sma], how="horizontal")
        .with_columns(*[pl.when(i >= n - 1).then(c(name)).alias(name) for n, name in zip(periods, names)])
    )


def indicators(daily):
    x, h, lo, vol = c("close"), c("high"), c("low"), c("volume").cast(pl.Float64)
    i = pl.int_range(pl.len()).over("symbol")
    prev = x.shift(1).over("symbol")
    lag = lambda e, k: e.shift(k).over("symbol")  # noqa: E731
    # RSI 14 (Wilder): gains and losses from row 1, both averages seeded at row 14 with the mean of rows 1-14.
    d = x - prev
    gain = pl.when(d > 0).then(d).otherwise(0.0)
    loss = pl.when(d < 0).then(-d).otherwise(0.0)
    ag = ema(gain, 14, seed_at=14, alpha=1 / 14)
    al = ema(loss, 14, seed_at=14, alpha=1 / 14)
    # MACD 12/26/9: both EMAs start on row 25 (the fast one seeded with the mean of rows 14-25); the signal is the
    # EMA 9 of the line from row 25, seeded on row 33; all three outputs start on row 33.
    line = ema(x, 12, seed_at=25) - ema(x, 26)
    # ATR 14: true range from row 1, Wilder average seeded on row 14 with the mean of rows 1-14.
    tr = pl.max_horizontal(h - lo, (prev - h).abs(), (prev - lo).abs())
    # LINEARREG_SLOPE 20: least squares over positions 0..19 (oldest 0).
    sy = x.rolling_sum(20).over("symbol")
    sxy = pl.sum_horizontal(*[(19 - k) * lag(x, k) for k in range(20)])
    sum_x, sum_x2 = 190.0, 2470.0
    r = (x / prev).log()
    tp = (h + lo + x) / 3
    pv20, v20 = (tp * vol).rolling_sum(20).over("symbol"), vol.rolling_sum(20).over("symbol")
    ra, rb = x / lag(x, 20), c("index_close") / lag(c("index_close"), 20)
    sign = pl.when(i == 0).then(1.0).when(d > 0).then(1.0).when(d < 0).then(-1.0).otherwise(0.0)
    return (
        talib_sma(daily, (20, 50, 200)).with_columns(
            ema_12=ema(x, 12),
            ema_26=ema(x, 26),
            rsi_14=pl.when(ag + al > 0).then(ag / (ag + al) * 100).otherwise(pl.when(ag.is_not_null()).then(0.0)),
            macd=pl.when(i >= 33).then(line),
            line=line,
            bb_sd=x.rolling_std(20, ddof=0).over("symbol"),
            atr_14=ema(tr, 14, seed_at=14, alpha=1 / 14),
            roc_10=pl.when(lag(x, 10) != 0).then((x / lag(x, 10) - 1) * 100).otherwise(
                pl.when(lag(x, 10).is_not_null()).then(0.0)),
            trend_slope_20=(20 * sxy - sum_x * sy) / (20 * sum_x2 - sum_x * sum_x),
            obv=(sign * vol).cum_sum().over("symbol"),
            volatility_20=(r.rolling_std(20, ddof=1).over("symbol") * 252 ** 0.5),
            vwap_20=pl.when(v20 != 0).then(pv20 / v20),
            rs_20=pl.when(ra.is_finite() & rb.is_finite() & (rb != 0)).then(ra / rb),
        )
        .with_columns(macd_signal=pl.when(i >= 33).then(ema(c("line"), 9, seed_at=33)))
        .with_columns(
            macd_hist=c("macd") - c("macd_signal"),
            bb_upper=c("sma_20") + c("bb_sd") * 2,
            bb_middle=c("sma_20"),
            bb_lower=c("sma_20") - c("bb_sd") * 2,
        )
        .with_columns(
            # crossover(sma_50, sma_200): NULL until both exist (a warm-up prefix), then judged on the previous row.
            cross_d=c("sma_50") - c("sma_200"),
        )
        .with_columns(cross_b=c("cross_d").shift(1).over("symbol"))
        .with_columns(
            sma_cross=pl.when(c("cross_b").is_null() | c("cross_d").is_null()).then(None)
            .when((c("cross_b") <= 0) & (c("cross_d") > 0)).then(1.0)
            .when((c("cross_b") >= 0) & (c("cross_d") < 0)).then(-1.0)
            .otherwise(0.0)
        )
        .select("symbol", "trade_date", "close", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14",
                "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower", "atr_14", "roc_10",
                "trend_slope_20", "obv", "volatility_20", "vwap_20", "rs_20", "year", "sma_cross")
    )


def main(bronze, out):
    os.makedirs(out, exist_ok=True)
    daily = cleaned(bronze).collect()
    daily.write_parquet(f"{out}/daily_bars.parquet")

    # The session calendar with every Fibonacci bucket's first session; each day joins the session on or before it.
    first, last = daily["trade_date"].min(), daily["trade_date"].max()
    sessions = pl.from_arrow(nyse_sessions(first - dt.timedelta(days=120), last)).lazy()
    starts = sessions.select(c("session_number").alias("start_number"), c("session_date").alias("start_date"))
    for k in FIB:
        sessions = (
            sessions.with_columns(start_number=(c("session_number") // k) * k)  # // floors, as session_bucket
            .join(starts, on="start_number", how="left")
            .rename({"start_date": f"bucket_{k}"}).drop("start_number")
        )
    lazy = daily.lazy().sort("symbol", "ts")
    with_buckets = (
        lazy.sort("trade_date").join_asof(sessions.sort("session_date"), left_on="trade_date", right_on="session_date",
                       strategy="backward")
        .sort("symbol", "ts")
    )
    frames = {
        "weekly_bars": calendar_bars(lazy, "week", "week_start"),
        "monthly_bars": calendar_bars(lazy, "month", "month_start"),
        **{f"bars_{k}d": session_bars(with_buckets, k) for k in FIB},
    }
    index = daily.lazy().group_by("trade_date").agg(c("close").mean().alias("index_close"))
    frames["daily_indicators"] = indicators(lazy.join(index, on="trade_date").sort("symbol", "trade_date"))
    for name, frame in zip(frames, pl.collect_all(list(frames.values()))):
        frame.write_parquet(f"{out}/{name}.parquet")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
