"""What every peer of the full stock pipeline (jobs/stock_market/pipeline.sql) shares: the NYSE calendar, the
gold indicators (TA-Lib, as a Python user computes them), and writing the outputs.

* `nyse_sessions(start, end)`: the NYSE sessions from the `exchange_calendars` package (XNYS), numbered so that
  `session_bucket(d, k)` (default origin 2000-01-03) is plain integer arithmetic:
      bucket_start_number = floor(session_number / k) * k        (session_number 0 is 2000-01-03)
      bar_start = the session_date whose session_number is bucket_start_number
  A day that is not a session belongs to the session before it (`session_day_map` does that as an equality
  join table, with the Fibonacci bucket starts precomputed, for engines without an as-of join).
  Checked against Strata's `trading_sessions` for 1970–2100: identical from 1995 on (so for 2000–2030). Before
  1995 Strata misses closures that are real NYSE history (see CALENDAR_DISAGREEMENTS); we keep exchange_calendars
  there. They can only move session buckets of dates before 1995 (buckets count sessions from 2000-01-03).
* `indicators(t, presorted=False)`: the columns of gold.daily_indicators from symbol, trade_date, high, low,
  close, volume and index_close (one row per symbol and trade date, any order; presorted=True skips the sort when
  the engine already ordered them by symbol, trade_date).
* `write_outputs(out_dir, name, table)`: OUT_DIR/<name>.parquet.
* `delta_files(table_dir)`: the Parquet files of a Delta table's current version (its log's adds minus removes),
  for engines that read Parquet but not Delta.

The ten output tables, by the names compare.py expects (`OUT_DIR/<name>.parquet`): see TABLES.
"""
import datetime as _dt
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Output name -> (Strata table path in the warehouse, sort keys).
TABLES = {
    "daily_bars": ("silver/daily_bars", ["symbol", "trade_date"]),
    "weekly_bars": ("silver/weekly_bars", ["symbol", "week_start"]),
    "monthly_bars": ("silver/monthly_bars", ["symbol", "month_start"]),
    "bars_3d": ("silver/bars_3d", ["symbol", "bar_start"]),
    "bars_5d": ("silver/bars_5d", ["symbol", "bar_start"]),
    "bars_8d": ("silver/bars_8d", ["symbol", "bar_start"]),
    "bars_13d": ("silver/bars_13d", ["symbol", "bar_start"]),
    "bars_21d": ("silver/bars_21d", ["symbol", "bar_start"]),
    "bars_34d": ("silver/bars_34d", ["symbol", "bar_start"]),
    "daily_indicators": ("gold/daily_indicators", ["symbol", "trade_date"]),
}
FIB = (3, 5, 8, 13, 21, 34)
SESSION_ORIGIN = "2000-01-03"  # session_bucket's default origin (the first NYSE session of 2000)

# Strata (trading_sessions, 1970-2100) vs exchange_calendars 4.13 (XNYS): the only differences, all before 1995.
# Strata calls these sessions, but the NYSE was closed (exchange_calendars is right):
#   1972-11-07, 1976-11-02, 1980-11-04  presidential Election Days (closed through 1980)
#   1972-12-28  Truman mourning; 1973-01-25  L. B. Johnson mourning; 1994-04-27  Nixon mourning
#   1977-07-14  New York City blackout; 1985-09-27  Hurricane Gloria
# Strata closes Mon 1970-02-16 and Mon 1970-05-25 (third Monday of February, last Monday of May) and opens Mon
# 1970-02-23, but the Uniform Monday Holiday Act applied from 1971: in 1970 the NYSE closed on 1970-02-23
# (Washington's Birthday, Feb 22 a Sunday) and Memorial Day fell on Saturday May 30.
CALENDAR_DISAGREEMENTS = ["1970-02-16", "1970-02-23", "1970-05-25", "1972-11-07", "1972-12-28", "1973-01-25",
                          "1976-11-02", "1977-07-14", "1980-11-04", "1985-09-27", "1994-04-27"]


def delta_files(table_dir):
    """Absolute paths of the data files in the latest version of the Delta table at `table_dir`: the JSON commits
    replayed in order (add, remove); a table with a checkpoint is read with the `deltalake` package instead."""
    import json
    from urllib.parse import unquote

    log = os.path.join(table_dir, "_delta_log")
    if any(f.endswith(".checkpoint.parquet") for f in os.listdir(log)):
        from deltalake import DeltaTable

        return [unquote(u[len("file://"):]) if u.startswith("file://") else u
                for u in DeltaTable(table_dir).file_uris()]
    files = {}
    for name in sorted(f for f in os.listdir(log) if f.endswith(".json") and f[:-5].isdigit()):
        with open(os.path.join(log, name)) as f:
            for line in f:
                if not line.strip():
                    continue
                action = json.loads(line)
                if "add" in action:
                    files[action["add"]["path"]] = True
                elif "remove" in action:
                    files.pop(action["remove"]["path"], None)
    return [os.path.join(table_dir, unquote(p)) for p in files]


def _date(d):
    return d if isinstance(d, _dt.date) else _dt.date.fromisoformat(str(d)[:10])


def nyse_sessions(start, end) -> pa.Table:
    """NYSE sessions between `start` and `end` (inclusive): session_date (date32), session_number (int64,
    consecutive, 0 on 2000-01-03, negative before it)."""
    import exchange_calendars as xcals

    start, end = _date(start), _date(end)
    origin = _date(SESSION_ORIGIN)
    first, last = min(start, origin), max(end, origin)
    cal = xcals.get_calendar("XNYS", start=first.isoformat(), end=(last + _dt.timedelta(days=7)).isoformat())
    days = cal.sessions_in_range(cal.first_session, cal.last_session).values.astype("datetime64[D]")
    number = np.arange(len(days), dtype=np.int64) - np.searchsorted(days, np.datetime64(origin, "D"))
    keep = (days >= np.datetime64(start, "D")) & (days <= np.datetime64(end, "D"))
    return pa.table({"session_date": pa.array(days[keep], pa.date32()), "session_number": number[keep]})


def session_day_map(start, end, sizes=FIB) -> pa.Table:
    """Every calendar day between `start` and `end`: day (date32), session_number of the session on or before it,
    and bucket_<k> (date32) = session_bucket(day, k) for each k in `sizes`. Days before the first session in the
    range get NULLs, so start a few months before the data (a 34-session bucket spans ~7 weeks)."""
    start, end = _date(start), _date(end)
    s = nyse_sessions(start - _dt.timedelta(days=400), end)
    sd = s.column("session_date").to_numpy().astype("datetime64[D]")
    sn = s.column("session_number").to_numpy()
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    at = np.searchsorted(sd, days, side="right") - 1
    cols = {"day": pa.array(days, pa.date32()), "session_number": pa.array(sn[at], pa.int64())}
    for k in sizes:
        b = (sn[at] // k) * k  # numpy // floors, as session_bucket does before its origin
        cols[f"bucket_{k}"] = pa.array(sd[np.clip(b - sn[0], 0, len(sd) - 1)], pa.date32())
    return pa.table(cols)


INDICATOR_COLUMNS = ["symbol", "trade_date", "close", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14",
                     "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle", "bb_lower", "atr_14", "roc_10",
                     "trend_slope_20", "obv", "volatility_20", "vwap_20", "rs_20", "year", "sma_cross"]


def _window_sum(x, n):
    """Sum of each n-row window ending at each row (NaN for the first n - 1); windows may cross symbols, the
    caller masks those rows."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1:] = np.convolve(x, np.ones(n), "valid")
    return out


def _lag(x, n):
    out = np.full(len(x), np.nan)
    out[n:] = x[:-n] if n else x
    return out


class _Rows:
    """The rows of some symbols, ordered by symbol and date, with each symbol's [start, end) and each row's
    position within its symbol."""

    def __init__(self, starts, ends):
        self.starts, self.ends = starts, ends
        n = int(ends[-1]) if len(ends) else 0
        self.pos = np.arange(n) - np.repeat(starts, ends - starts)
        self.spans = [(a, b) for a, b in zip(starts.tolist(), ends.tolist()) if b > a]

    def dense(self, mask):
        """Strata skips the rows where an input is NULL or not finite and computes over the others in order:
        (row indexes kept or None for all, the _Rows of the kept rows)."""
        if mask.all():
            return None, self
        before = np.r_[0, np.cumsum(mask)]
        return np.flatnonzero(mask), _Rows(before[self.starts], before[self.ends])


def _scatter(n, idx, dense):
    if idx is None:
        return dense
    out = np.full(n, np.nan)
    out[idx] = dense
    return out


def _take(idx, *cols):
    return cols if idx is None else tuple(c[idx] for c in cols)


def _talib_close(c, rows):
    """The TA-Lib indicators of the close, per symbol."""
    import talib

    names = ["sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist",
             "bb_upper", "bb_middle", "bb_lower", "roc_10", "trend_slope_20"]
    out = {k: np.empty(len(c)) for k in names}  # the spans cover every row
    for a, b in rows.spans:
        x = c[a:b]
        out["sma_20"][a:b] = talib.SMA(x, 20)
        out["sma_50"][a:b] = talib.SMA(x, 50)
        out["sma_200"][a:b] = talib.SMA(x, 200)
        out["ema_12"][a:b] = talib.EMA(x, 12)
        out["ema_26"][a:b] = talib.EMA(x, 26)
        out["rsi_14"][a:b] = talib.RSI(x, 14)
        out["macd"][a:b], out["macd_signal"][a:b], out["macd_hist"][a:b] = talib.MACD(x, 12, 26, 9)
        out["bb_upper"][a:b], out["bb_middle"][a:b], out["bb_lower"][a:b] = talib.BBANDS(x, 20, 2.0, 2.0, 0)
        out["roc_10"][a:b] = talib.ROC(x, 10)
        out["trend_slope_20"][a:b] = talib.LINEARREG_SLOPE(x, 20)
    return out


def _volatility(c, rows):
    """volatility(close, 20): sample stddev of the last 20 log returns * sqrt(252); NULL for the first 20 rows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(c / _lag(c, 1))
    r[rows.pos < 1] = 0.0
    s1, s2 = _window_sum(r, 20), _window_sum(r * r, 20)
    vol = np.sqrt(np.maximum(s2 - s1 * s1 / 20, 0.0) / 19) * np.sqrt(252.0)
    vol[rows.pos < 20] = np.nan
    return vol


def _vwap(tp, v, rows):
    """vwap(price, volume, 20): NULL for the first 19 rows and where the 20 volumes sum to 0."""
    pv, vv = _window_sum(tp * v, 20), _window_sum(v, 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(vv != 0, pv / vv, np.nan)
    out[rows.pos < 19] = np.nan
    return out


def _relative_strength(c, bench, rows):
    """relative_strength(close, index_close, 20): NULL for the first 20 rows and a non-finite ratio."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ra, rb = c / _lag(c, 20), bench / _lag(bench, 20)
        rs = np.where(np.isfinite(ra) & np.isfinite(rb) & (rb != 0), ra / rb, np.nan)
    rs[rows.pos < 20] = np.nan
    return rs


def _crossover(fast, slow, rows):
    """crossover(fast, slow): against the previous row (of the rows where both have values); NULL on the first."""
    d = fast - slow
    before = _lag(d, 1)
    before[rows.pos < 1] = np.nan
    cross = np.where((before <= 0) & (d > 0), 1.0, np.where((before >= 0) & (d < 0), -1.0, 0.0))
    cross[np.isnan(before) | np.isnan(d)] = np.nan
    return cross


def indicators(t: pa.Table, presorted: bool = False) -> pa.Table:
    """gold.daily_indicators of pipeline.sql. TA-Lib (the reference Strata's indicators follow, to the last bit)
    per symbol for SMA, EMA, RSI, MACD, BBANDS, ATR, ROC, LINEARREG_SLOPE and OBV; numpy over all symbols at once
    for what TA-Lib lacks (volatility, rolling VWAP, relative strength, crossover), with each symbol's warm-up
    rows masked so no window crosses symbols. As in Strata, an indicator skips the rows where one of its inputs
    is NULL or not finite (computing over the others in order; those rows get NULL), and a non-finite result is
    NULL; the generated data has no such row after cleaning, so this costs one check. `presorted`: the rows are
    already ordered by symbol, trade_date (an engine's own sort is faster than Arrow's)."""
    import talib

    t = t.select(["symbol", "trade_date", "high", "low", "close", "volume", "index_close"])
    if not presorted:
        t = t.sort_by([("symbol", "ascending"), ("trade_date", "ascending")])
    t = t.combine_chunks()

    def f64(name):
        col = pc.cast(t.column(name), pa.float64())
        if col.null_count:
            col = pc.fill_null(col, np.nan)
        return np.ascontiguousarray(col.to_numpy(), dtype=np.float64)

    high, low, close, volume, bench = f64("high"), f64("low"), f64("close"), f64("volume"), f64("index_close")
    n = len(close)
    sym = pc.dictionary_encode(t.column("symbol")).combine_chunks().indices.to_numpy()
    starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]]) if n else np.zeros(0, np.int64)
    rows = _Rows(starts, np.r_[starts[1:], n].astype(np.int64) if n else starts)
    fin_c = np.isfinite(close)

    idx, r = rows.dense(fin_c)
    (c,) = _take(idx, close)
    out = {k: _scatter(n, idx, v) for k, v in _talib_close(c, r).items()}
    out["volatility_20"] = _scatter(n, idx, _volatility(c, r))

    idx, r = rows.dense(fin_c & np.isfinite(high) & np.isfinite(low))
    h, lo, c = _take(idx, high, low, close)
    atr = np.empty(len(c))
    for a, b in r.spans:
        atr[a:b] = talib.ATR(h[a:b], lo[a:b], c[a:b], 14)
    out["atr_14"] = _scatter(n, idx, atr)

    idx, r = rows.dense(fin_c & np.isfinite(volume))
    c, v = _take(idx, close, volume)
    obv = np.empty(len(c))
    for a, b in r.spans:
        obv[a:b] = talib.OBV(c[a:b], v[a:b])
    out["obv"] = _scatter(n, idx, obv)

    tp = (high + low + close) / 3
    idx, r = rows.dense(np.isfinite(tp) & np.isfinite(volume))
    out["vwap_20"] = _scatter(n, idx, _vwap(*_take(idx, tp, volume), r))

    idx, r = rows.dense(fin_c & np.isfinite(bench))
    out["rs_20"] = _scatter(n, idx, _relative_strength(*_take(idx, close, bench), r))

    for k, v in out.items():
        v[~np.isfinite(v)] = np.nan
    idx, r = rows.dense(~np.isnan(out["sma_50"]) & ~np.isnan(out["sma_200"]))
    # The averages are NULL only in a symbol's warm-up prefix on clean data, so this is the usual fast path.
    if idx is not None and len(idx) == 0:
        out["sma_cross"] = np.full(n, np.nan)
    else:
        out["sma_cross"] = _scatter(n, idx, _crossover(*_take(idx, out["sma_50"], out["sma_200"]), r))

    col = lambda x: pa.array(x, pa.float64(), from_pandas=True)  # noqa: E731  NaN -> NULL
    dates = t.column("trade_date")
    cols = {"symbol": t.column("symbol"), "trade_date": dates, "close": t.column("close"),
            "year": pc.cast(pc.year(dates), pa.int32())}
    cols.update({k: col(v) for k, v in out.items()})
    return pa.table({k: cols[k] for k in INDICATOR_COLUMNS})


def write_outputs(out_dir, name, table):
    """Write one output table as OUT_DIR/<name>.parquet (name from TABLES)."""
    os.makedirs(out_dir, exist_ok=True)
    if not isinstance(table, pa.Table):
        table = table.to_arrow() if hasattr(table, "to_arrow") else pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, os.path.join(out_dir, f"{name}.parquet"))
