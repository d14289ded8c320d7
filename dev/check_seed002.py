"""Seed 002's Fibonacci bars and sector strength, recomputed independently with pandas and the `exchange_calendars`
package's NYSE calendar from the bronze tables the job read, and compared value by value with the job's tables.

Usage: check_seed002.py WAREHOUSE

Reads `bronze/market_daily` and `bronze/symbol_metadata` with the `deltalake` package and applies
jobs/stock_market/pipeline.sql's rules as docs/pipelines/002-bronze-silver-fibonacci.md states them:

* a bar is kept when open, high, low and close are present and positive, low <= min(open, close),
  high >= max(open, close) and the volume is present and not negative;
* of several bars of one (symbol, ts), the first by (volume descending, close, open, high, low) is kept;
* a close more than 5 times above or below the median of the 7 bars around it (shifted inwards at a symbol's first
  and last bars) is a bad tick and its bar is dropped;
* a Fibonacci bar of n sessions holds the sessions of one block of n consecutive XNYS sessions counted from the first
  session on or after 2000-01-03: open of the first bar, close of the last, highest high, lowest low, total volume,
  volume-weighted typical price, the number of bars, and its first and last trade dates;
* a sector's close is the mean close of its symbols that traded that day, the market's the mean of all;
  rs_sector_n = (close_t / close_t-n) / (sector_t / sector_t-n) over each symbol's rows in date order.

Exits 1 listing the first differences; otherwise prints {"bars": {table: rows}, "sector_strength": rows}.
"""
import json
import math
import os
import sys

import exchange_calendars as xcals
import numpy as np
import pandas as pd
from deltalake import DeltaTable
from spikes import bad_ticks

REL = 1e-9
FIBONACCI = [3, 5, 8, 13, 21, 34]


def table(wh, name):
    return DeltaTable(os.path.join(wh, *name.split("."))).to_pandas()


def clean(bronze):
    b = bronze.copy()
    ok = b[["open", "high", "low", "close"]].notna().all(axis=1) & b["volume"].notna()
    ok &= (b[["open", "high", "low", "close"]] > 0).all(axis=1) & (b["volume"] >= 0)
    ok &= (b["low"] <= b[["open", "close"]].min(axis=1)) & (b["high"] >= b[["open", "close"]].max(axis=1))
    b = b[ok]
    b = b.sort_values(["symbol", "ts", "volume", "close", "open", "high", "low"],
                      ascending=[True, True, False, True, True, True, True], kind="mergesort")
    b = b.drop_duplicates(["symbol", "ts"], keep="first")
    keep = []
    for _, g in b.groupby("symbol", sort=False):
        flags = bad_ticks(g["close"].to_numpy(dtype=float))
        keep.append(g[~flags])
    d = pd.concat(keep)
    d["trade_date"] = pd.to_datetime(d["ts"]).dt.tz_localize(None).dt.date if d["ts"].dt.tz is None else \
        d["ts"].dt.tz_convert("UTC").dt.date
    return d


def fibonacci(d, n, sessions):
    index = {s: i for i, s in enumerate(sessions)}
    d = d.copy()
    d["bucket"] = [index[t] // n for t in d["trade_date"]]
    d["bar_start"] = [sessions[b * n] for b in d["bucket"]]
    d["typical_volume"] = (d["high"] + d["low"] + d["close"]) / 3 * d["volume"]
    d = d.sort_values(["symbol", "ts"], kind="mergesort")
    g = d.groupby(["symbol", "bar_start"], sort=True)
    out = g.agg(bar_end=("trade_date", "max"), open=("open", "first"), high=("high", "max"), low=("low", "min"),
                close=("close", "last"), volume=("volume", "sum"), tv=("typical_volume", "sum"),
                sessions=("close", "size")).reset_index()
    out["vwap"] = np.where(out["volume"] > 0, out["tv"] / out["volume"].where(out["volume"] > 0, 1), np.nan)
    return out.drop(columns=["tv"])


def sector_strength(d, meta):
    d = d.merge(meta[["symbol", "sector", "name", "market_cap"]], on="symbol")
    sector = d.groupby(["sector", "trade_date"])["close"].mean().rename("sector_close")
    market = d.groupby("trade_date")["close"].mean().rename("index_close")
    d = d.join(sector, on=["sector", "trade_date"]).join(market, on="trade_date")
    out = []
    for _, s in d.groupby("symbol", sort=True):
        s = s.sort_values("trade_date").copy()
        c, sc, ic = (s[k].to_numpy(dtype=float) for k in ["close", "sector_close", "index_close"])
        for n, name, x, b in [(20, "rs_sector_20", c, sc), (60, "rs_sector_60", c, sc),
                              (20, "sector_vs_market_20", sc, ic)]:
            rs = np.full(len(x), np.nan)
            if len(x) > n:
                rs[n:] = (x[n:] / x[:-n]) / (b[n:] / b[:-n])
            s[name] = rs
        out.append(s)
    return pd.concat(out)


def same(a, b):
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    if na or nb:
        return na and nb
    numbers = (int, float, np.integer, np.floating)
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):
        return a == b
    if not isinstance(a, numbers) or not isinstance(b, numbers):
        return str(a) == str(b)
    a, b = float(a), float(b)
    return abs(a - b) <= REL * max(1.0, abs(a), abs(b))


def compare(name, expected, got, keys, columns, problems):
    exp = expected.copy()
    got = got.copy()
    for k in keys:
        exp[k] = exp[k].astype(str)
        got[k] = got[k].astype(str)
    exp = exp.set_index(keys).sort_index()
    got = got.set_index(keys).sort_index()
    if list(exp.index) != list(got.index):
        missing = sorted(set(exp.index) - set(got.index))[:5]
        extra = sorted(set(got.index) - set(exp.index))[:5]
        problems.append(f"{name}: {len(got)} rows, expected {len(exp)}; missing {missing}, unexpected {extra}")
        return
    for column in columns:
        for key, e, g in zip(exp.index, exp[column].tolist(), got[column].tolist()):
            if not same(e, g):
                problems.append(f"{name} {key} {column}: {g!r}, expected {e!r}")
                if len(problems) > 20:
                    return


def main():
    wh = sys.argv[1]
    d = clean(table(wh, "bronze.market_daily"))
    first, last = min(d["trade_date"]), max(d["trade_date"])
    calendar = xcals.get_calendar("XNYS", start="2000-01-03", end=str(last + pd.Timedelta(days=60)))
    sessions = [s.date() for s in calendar.sessions]
    assert sessions[0] == pd.Timestamp("2000-01-03").date()
    problems = []
    rows = {}
    bar_columns = ["bar_end", "open", "high", "low", "close", "volume", "vwap", "sessions"]
    for n in FIBONACCI:
        name = f"silver.bars_{n}d"
        got = table(wh, name)
        rows[name] = len(got)
        compare(name, fibonacci(d, n, sessions), got, ["symbol", "bar_start"], bar_columns, problems)
    got = table(wh, "gold.sector_strength")
    expected = sector_strength(d, table(wh, "bronze.symbol_metadata"))
    compare("gold.sector_strength", expected, got, ["symbol", "trade_date"],
            ["name", "sector", "market_cap", "close", "sector_close", "index_close", "rs_sector_20", "rs_sector_60",
             "sector_vs_market_20"], problems)
    if problems:
        print("\n".join(problems[:25]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"bars": rows, "sector_strength": len(got), "first": str(first), "last": str(last)}))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
