"""Seed 000's PostgreSQL tables, recomputed independently with pandas and TA-Lib and compared value by value.

Usage: check_seed000.py TICKS.jsonl DAILY.jsonl WEEKLY.jsonl MONTHLY.jsonl

TICKS is every row of `stock_prices` as the job read it (one JSON object per line, as PostgreSQL's row_to_json
writes it); DAILY, WEEKLY and MONTHLY are the job's `stock_daily_aggregates`, `stock_weekly_aggregates` and
`stock_monthly_aggregates`. The rules are the seed's, as docs/pipelines/000-batch-aggregates.md states them:

* one tick per (symbol, timestamp): its latest fetch (then its highest id);
* a tick without a symbol, a timestamp, a positive price or a non-negative volume is dropped;
* a price more than 5 times above or below the median of the 7 ticks around it (shifted inwards at a symbol's
  first and last ticks) is a bad tick and is dropped;
* daily bars (open/close by time), the market as the mean close of the symbols trading that day;
* TA-Lib's SMA, EMA, MACD(12, 26, 9), LINEARREG_SLOPE and RSI; volatility as the sample standard deviation of the
  last n log returns times sqrt(periods per year); relative strength as (x_t / x_t-n) / (m_t / m_t-n); a golden
  (1) or death (-1) cross where SMA 50 crosses SMA 200 against the previous row where both exist;
* calendar weeks from Monday and months, with the change from the previous close in percent.

Exits 1 listing the first differences; otherwise prints one JSON line: each rule's violations and each table's
row count.
"""
import json
import math
import sys

import numpy as np
import pandas as pd
import talib
from spikes import bad_ticks

REL = 1e-9


def read(path):
    with open(path) as f:
        return pd.DataFrame([json.loads(line) for line in f if line.strip()])


def clean(ticks):
    t = ticks.copy()
    t["price"] = pd.to_numeric(t["price"], errors="coerce")
    t["volume"] = pd.to_numeric(t["volume"], errors="coerce")
    t["fetch_timestamp"] = pd.to_numeric(t["fetch_timestamp"], errors="coerce")
    # last_value(… ORDER BY fetch_timestamp, id): ascending, NULLs last, so a copy without a fetch time wins.
    t["_fetch_key"] = t["fetch_timestamp"].fillna(np.inf)
    t = t.sort_values(["_fetch_key", "id"], kind="mergesort")
    latest = t.groupby(["symbol", "timestamp"], dropna=False, sort=False).tail(1).copy()
    violations = {
        "has_symbol": int(latest["symbol"].isna().sum()),
        "has_time": int(latest["timestamp"].isna().sum()),
        "positive_price": int((~(latest["price"] > 0)).sum()),
        "non_negative_volume": int((~(latest["volume"] >= 0)).sum()),
    }
    ok = latest["symbol"].notna() & latest["timestamp"].notna() & (latest["price"] > 0) & (latest["volume"] >= 0)
    kept = latest[ok].copy()
    kept["ts"] = pd.to_datetime(kept["timestamp"])
    kept["price"] = kept["price"].round(4)
    kept = kept.sort_values(["symbol", "ts"], kind="mergesort")
    spikes = []
    for _, g in kept.groupby("symbol", sort=False):
        flags = bad_ticks(g["price"].to_numpy(dtype=float))
        spikes.append(pd.Series(flags, index=g.index))
    spike = pd.concat(spikes) if spikes else pd.Series(dtype=bool)
    violations["no_price_spike"] = int(spike.sum())
    clean_ticks = kept[~spike.reindex(kept.index, fill_value=False)].copy()
    return clean_ticks, violations


def volatility(close, n, per_year):
    r = np.log(close / close.shift(1))
    return r.rolling(n).std(ddof=1) * math.sqrt(per_year)


def daily(clean_ticks):
    t = clean_ticks.copy()
    t["day"] = t["ts"].dt.date
    g = t.sort_values("ts").groupby(["symbol", "day"], sort=True)
    d = g.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
              avg_price=("price", "mean"), volume=("volume", "sum"), ticks=("price", "size")).reset_index()
    d["avg_price"] = d["avg_price"].round(4)
    market = d.groupby("day")["close"].mean().rename("market")
    d = d.join(market, on="day")
    out = []
    for _, s in d.groupby("symbol", sort=True):
        s = s.sort_values("day").copy()
        c = s["close"].to_numpy(dtype=float)
        s["sma_5"], s["sma_20"] = talib.SMA(c, 5), talib.SMA(c, 20)
        s["sma_50"], s["sma_200"] = talib.SMA(c, 50), talib.SMA(c, 200)
        s["ema_12"], s["ema_26"] = talib.EMA(c, 12), talib.EMA(c, 26)
        s["macd"], s["macd_signal"], s["macd_hist"] = talib.MACD(c, 12, 26, 9)
        s["slope_20"] = talib.LINEARREG_SLOPE(c, 20)
        s["rsi_14"] = talib.RSI(c, 14)
        s["volatility_20"] = volatility(s["close"].astype(float), 20, 252).to_numpy()
        m = s["market"].to_numpy(dtype=float)
        rs = np.full(len(c), np.nan)
        rs[20:] = (c[20:] / c[:-20]) / (m[20:] / m[:-20])
        s["rs_20"] = rs
        s["golden_cross"] = crossover(s["sma_50"].to_numpy(), s["sma_200"].to_numpy())
        out.append(s)
    return pd.concat(out).drop(columns=["market"])


def crossover(fast, slow):
    out = np.full(len(fast), np.nan)
    prev = None
    for i in range(len(fast)):
        if np.isnan(fast[i]) or np.isnan(slow[i]):
            continue
        if prev is None:
            out[i] = np.nan
        else:
            pf, ps = prev
            out[i] = 1.0 if pf <= ps and fast[i] > slow[i] else -1.0 if pf >= ps and fast[i] < slow[i] else 0.0
        prev = (fast[i], slow[i])
    return out


def periods(d, key, freq, short, long_, per_year):
    d = d.copy()
    ts = pd.to_datetime(d["day"])
    d[key] = (ts.dt.to_period(freq).dt.start_time).dt.date
    g = d.sort_values("day").groupby(["symbol", key], sort=True)
    p = g.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
              volume=("volume", "sum"), ticks=("ticks", "sum"), trading_days=("day", "size")).reset_index()
    out = []
    for _, s in p.groupby("symbol", sort=True):
        s = s.sort_values(key).copy()
        c = s["close"].to_numpy(dtype=float)
        s["change_pct"] = 100 * (s["close"] / s["close"].shift(1) - 1)
        s[f"sma_{short}"], s[f"sma_{long_}"] = talib.SMA(c, short), talib.SMA(c, long_)
        s["rsi_14"] = talib.RSI(c, 14)
        s[f"volatility_{long_}"] = volatility(s["close"].astype(float), long_, per_year).to_numpy()
        out.append(s)
    return pd.concat(out)


def same(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return False
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    a, b = float(a), float(b)
    return abs(a - b) <= REL * max(1.0, abs(a), abs(b))


def compare(name, expected, got_path, keys, problems):
    got = read(got_path)
    exp = expected.copy()
    for k in keys[1:]:
        exp[k] = exp[k].astype(str)
        got[k] = got[k].astype(str)
    exp = exp.set_index(keys).sort_index()
    got = got.set_index(keys).sort_index()
    if list(exp.index) != list(got.index):
        missing = sorted(set(exp.index) - set(got.index))[:5]
        extra = sorted(set(got.index) - set(exp.index))[:5]
        problems.append(f"{name}: {len(got)} rows, expected {len(exp)}; missing {missing}, unexpected {extra}")
        return len(got)
    for column in got.columns:
        if column not in exp.columns:
            problems.append(f"{name}: unexpected column {column}")
            continue
        for key, e, g in zip(exp.index, exp[column].tolist(), got[column].tolist()):
            if not same(e, g):
                problems.append(f"{name} {key} {column}: {g!r}, expected {e!r}")
                if len(problems) > 20:
                    return len(got)
    return len(got)


def main():
    ticks, daily_path, weekly_path, monthly_path = sys.argv[1:5]
    clean_ticks, violations = clean(read(ticks))
    d = daily(clean_ticks)
    problems = []
    rows = {}
    rows["stock_daily_aggregates"] = compare("daily", d, daily_path, ["symbol", "day"], problems)
    w = periods(d, "week_start", "W-SUN", 4, 13, 52)
    rows["stock_weekly_aggregates"] = compare("weekly", w, weekly_path, ["symbol", "week_start"], problems)
    m = periods(d, "month_start", "M", 3, 12, 12)
    rows["stock_monthly_aggregates"] = compare("monthly", m, monthly_path, ["symbol", "month_start"], problems)
    if problems:
        print("\n".join(problems[:25]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"violations": violations, "rows": rows, "clean_ticks": len(clean_ticks)}))


if __name__ == "__main__":
    main()
