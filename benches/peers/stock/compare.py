"""Run the stock pipeline (strata.sql: clean, calendar and Fibonacci bars, indicators) in Strata, DuckDB and Polars
on the same data; check that they agree; print wall time and peak memory (RSS of the process tree) side by side,
as ratios to Strata. Called by ../run.sh (one command).

usage: compare.py STRATA_BINARY BRONZE_DIR WORK_DIR ORIGIN_DATE
"""
import json
import math
import os
import shutil
import sys

import duckdb
from deltalake import DeltaTable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from measure import measure  # noqa: E402

strata, bronze, work, origin = sys.argv[1:5]
here = os.path.dirname(os.path.abspath(__file__))
TABLES = ["daily_bars", "weekly_bars", "monthly_bars"] + [f"bars_{n}d" for n in (3, 5, 8, 13, 21, 34)] + ["indicators"]
EXACT = ["sma_20", "sma_50", "sma_200", "bb_upper", "bb_lower", "volatility_20"]
SEEDED = ["rsi_14", "macd", "macd_signal"]  # EMA-based: compared after 300 sessions, when seeds no longer matter


def strata_tables(warehouse):
    out = {}
    for t in TABLES:
        path = os.path.join(warehouse, "gold" if t == "indicators" else "silver", t)
        table = DeltaTable(path).to_pyarrow_table()
        if "bar" in table.column_names:  # unpack the ohlcv struct
            bar = table.column("bar").combine_chunks()
            for f in ("open", "high", "low", "close", "volume", "trades"):
                table = table.append_column(f, bar.field(f))
            table = table.drop(["bar"])
        out[t] = table
    return out


def parquet_tables(directory):
    return {t: duckdb.read_parquet(os.path.join(directory, f"{t}.parquet")).to_arrow_table() for t in TABLES}


def checksums(tables):
    con = duckdb.connect()
    sums = {}
    for t, table in tables.items():
        con.register("t", table)
        if t == "indicators":
            q = ", ".join([f"count({c}), sum({c})" for c in EXACT] +
                          [f"sum({c}) FILTER (WHERE rn > 300)" for c in SEEDED])
            row = con.sql(f"SELECT count(*), {q} FROM (SELECT *, row_number() OVER "
                              f"(PARTITION BY symbol ORDER BY trade_date) AS rn FROM t)").fetchall()[0]
            names = ["rows"] + [f"{k}({c})" for c in EXACT for k in ("count", "sum")] + [f"sum300({c})" for c in SEEDED]
        else:
            row = con.sql("SELECT count(*), sum(close), sum(open), sum(high), sum(low), sum(CAST(volume AS DOUBLE)) "
                              "FROM t").fetchall()[0]
            names = ["rows", "sum(close)", "sum(open)", "sum(high)", "sum(low)", "sum(volume)"]
        for n, v in zip(names, row):
            sums[f"{t}.{n}"] = v
        con.unregister("t")
    return sums


def agree(a, b, key):
    if isinstance(a, int) or isinstance(b, int):
        return a == b
    rel = 1e-6 if any(s in key for s in SEEDED) else 1e-9
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


results = {}
warehouse = os.path.join(work, "strata")
shutil.rmtree(warehouse, ignore_errors=True)
os.makedirs(os.path.join(warehouse, "bronze"))
os.symlink(os.path.abspath(bronze), os.path.join(warehouse, "bronze", "market_daily"))
results["Strata"] = measure([strata, "run", os.path.join(here, "strata.sql"), "--warehouse", warehouse,
                             "--param", f"origin={origin}", "--no-progress"])
for name, script in [("DuckDB", "duckdb_job.py"), ("Polars", "polars_job.py")]:
    out = os.path.join(work, name.lower())
    shutil.rmtree(out, ignore_errors=True)
    results[name] = measure([sys.executable, os.path.join(here, script), bronze, out])

sums = {"Strata": checksums(strata_tables(warehouse)),
        "DuckDB": checksums(parquet_tables(os.path.join(work, "duckdb"))),
        "Polars": checksums(parquet_tables(os.path.join(work, "polars")))}
disagreements = [(peer, k, sums["Strata"][k], v) for peer in ("DuckDB", "Polars")
                 for k, v in sums[peer].items() if not agree(sums["Strata"][k], v, k)]

rows = sums["Strata"]["daily_bars.rows"]
print(f"\n{rows:,} clean daily rows in; 10 output tables; 2 threads each; wall time and peak memory (RSS)\n")
print(f"{'engine':<8} {'wall s':>8} {'peak MiB':>9} {'wall / Strata':>14} {'memory / Strata':>16}")
s_wall, s_mem = results["Strata"]
for name, (wall, mem) in results.items():
    print(f"{name:<8} {wall:>8.1f} {mem:>9.0f} {wall / s_wall:>14.2f} {mem / s_mem:>16.2f}")
print(f"\nresults agree on {len(sums['Strata'])} checksums per engine" if not disagreements else
      f"\n{len(disagreements)} DISAGREEMENTS:\n" + "\n".join(f"  {p} {k}: strata {a} vs {b}" for p, k, a, b in disagreements))
json.dump({"results": results, "checksums": sums, "disagreements": disagreements},
          open(os.path.join(work, "results.json"), "w"), indent=1, default=str)
sys.exit(1 if disagreements else 0)
