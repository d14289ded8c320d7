"""Reference values for Strata's indicator tests, computed by TA-Lib (the `ta-lib` package, which bundles the
TA-Lib C library) and, for indicators TA-Lib lacks, by plain numpy from the published definitions.

usage: talib_reference.py IN.json OUT.json

IN.json:  {"cases": [{"series": {"close": [...], "high": [...], "low": [...], "volume": [...], "bench": [...]},
                      "calls": [{"id": "sma20", "fn": "SMA", "args": {"timeperiod": 20}}, ...]}, ...]}
OUT.json: {"versions": {...}, "cases": [{"id": [values or null, ...], ...}, ...]}

Series hold no missing values: the caller passes the rows an indicator sees (Strata skips NULL rows).
"""
import json
import math
import sys

import numpy as np
import talib

TALIB_INPUTS = {
    "SMA": ["close"], "EMA": ["close"], "WMA": ["close"], "RSI": ["close"], "ROC": ["close"],
    "LINEARREG_SLOPE": ["close"], "MACD": ["close"], "BBANDS": ["close"],
    "ATR": ["high", "low", "close"], "OBV": ["close", "volume"],
}


def volatility(close, period, periods_per_year):
    out = np.full(len(close), np.nan)
    r = np.diff(np.log(close))
    for end in range(period, len(r) + 1):
        out[end] = np.std(r[end - period:end], ddof=1) * math.sqrt(periods_per_year)
    return out


def vwap(price, volume, period):
    out = np.full(len(price), np.nan)
    for end in range(period, len(price) + 1):
        v = volume[end - period:end].sum()
        if v != 0:
            out[end - 1] = (price[end - period:end] * volume[end - period:end]).sum() / v
    return out


def relative_strength(close, bench, period):
    out = np.full(len(close), np.nan)
    for t in range(period, len(close)):
        out[t] = (close[t] / close[t - period]) / (bench[t] / bench[t - period])
    return out


def call(c, series):
    fn, args = c["fn"], dict(c.get("args") or {})
    if fn in TALIB_INPUTS:
        res = getattr(talib, fn)(*[series[s] for s in TALIB_INPUTS[fn]], **args)
        if isinstance(res, tuple):
            res = res[c.get("output", 0)]
        return res
    if fn == "VOLATILITY":
        return volatility(series["close"], args["period"], args["periods_per_year"])
    if fn == "VWAP":
        return vwap(series["close"], series["volume"], args["period"])
    if fn == "RELATIVE_STRENGTH":
        return relative_strength(series["close"], series["bench"], args["period"])
    raise ValueError(f"unknown function {fn}")


def main():
    spec = json.load(open(sys.argv[1]))
    cases = []
    for case in spec["cases"]:
        series = {k: np.asarray(v, dtype=np.float64) for k, v in case["series"].items()}
        cases.append({
            c["id"]: [None if math.isnan(v) else float(v) for v in call(c, series)] for c in case["calls"]
        })
    out = {"versions": {"ta-lib": talib.__version__, "numpy": np.__version__}, "cases": cases}
    json.dump(out, open(sys.argv[2], "w"), allow_nan=False)


if __name__ == "__main__":
    main()
