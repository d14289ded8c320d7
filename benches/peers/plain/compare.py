"""Run the plain-SQL pipeline in Strata and its peers on the same data; check that every engine's five tables
agree; print wall time and peak memory of each whole process tree, as ratios to Strata's.

usage: compare.py STRATA_BINARY BRONZE_DIR WORK_DIR ENGINES   (ENGINES: comma-separated, e.g. strata,duckdb)
Writes WORK_DIR/plain-results.json. Exits non-zero when an output disagrees.
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

strata, bronze, work, engines = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
here = os.path.dirname(os.path.abspath(__file__))
TABLES = {"weekly_bars": "silver", "monthly_bars": "silver", "bars_5": "silver", "bars_21": "silver",
          "rolling": "gold"}
NAMES = {"strata": "Strata", "cluster": "Strata cluster", "datafusion": "datafusion-python", "duckdb": "DuckDB",
         "polars": "Polars", "pyspark": "PySpark"}


def checksums(tables):
    """Row count, and per column the non-null count and the sum (timestamps as epoch microseconds)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sums = {}
    for t, table in tables.items():
        con.register("t", table)
        rel = con.sql("SELECT * FROM t")
        cols = list(zip(rel.columns, [str(typ) for typ in rel.dtypes]))
        exprs, names = ["count(*)"], ["rows"]
        for name, typ in cols:
            if name == "symbol":
                exprs.append("count(DISTINCT symbol)")
                names.append("symbols")
                continue
            value = f'epoch_us(CAST("{name}" AS TIMESTAMP))' if "TIMESTAMP" in typ.upper() or typ == "DATE" else \
                f'CAST("{name}" AS DOUBLE)'
            exprs += [f'count("{name}")', f"sum({value})"]
            names += [f"count({name})", f"sum({name})"]
        row = con.sql(f"SELECT {', '.join(exprs)} FROM t").fetchall()[0]
        sums.update({f"{t}.{n}": v for n, v in zip(names, row)})
        con.unregister("t")
    return sums


def agree(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def parquet(path):
    pattern = os.path.join(path, "**", "*.parquet") if os.path.isdir(path) else path
    return duckdb.read_parquet(pattern).to_arrow_table()


results, sums = {}, {}
for engine in engines:
    out = os.path.join(work, f"plain-{engine}")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    log = os.path.join(work, f"plain-{engine}.log")
    if engine in ("strata", "cluster"):
        os.makedirs(os.path.join(out, "bronze"))
        os.symlink(os.path.abspath(bronze), os.path.join(out, "bronze", "prices"))
        cmd = [strata, "run", os.path.join(here, "strata.sql"), "--warehouse", out, "--no-progress"]
        also = ()
        if engine == "cluster":
            cluster = json.load(open(os.environ["STRATA_BENCH_CLUSTER"]))
            cmd += ["--cluster", cluster["scheduler"]]
            also = [cluster["scheduler_pid"], *cluster["executor_pids"]]
        elif os.environ.get("STRATA_BENCH_MEMORY_LIMIT"):
            cmd += ["--memory-limit", os.environ["STRATA_BENCH_MEMORY_LIMIT"]]
        results[engine] = measure(cmd, log=log, also=also)
        tables = {t: DeltaTable(os.path.join(out, layer, t)).to_pyarrow_table() for t, layer in TABLES.items()}
    else:
        results[engine] = measure([sys.executable, os.path.join(here, f"{engine}_job.py"), bronze, out], log=log)
        tables = {t: parquet(os.path.join(out, f"{t}.parquet")) for t in TABLES}
    sums[engine] = checksums(tables)
    print(f"{NAMES[engine]:<18} {results[engine][0]:8.1f} s {results[engine][1]:8.0f} MiB", flush=True)

base = engines[0]
disagreements = [(e, k, sums[base].get(k), v) for e in engines[1:] for k, v in sums[e].items()
                 if not agree(sums[base].get(k), v)]
rows = sums[base]["rolling.rows"]
print(f"\nplain SQL pipeline: {rows:,} rows in, 5 tables out; wall time and peak RSS of the process tree\n")
print(f"{'engine':<18} {'wall s':>8} {'peak MiB':>9} {'wall / Strata':>14} {'memory / Strata':>16}")
s_wall, s_mem = results[base]
for e, (wall, mem) in results.items():
    print(f"{NAMES[e]:<18} {wall:>8.1f} {mem:>9.0f} {wall / s_wall:>14.2f} {mem / s_mem:>16.2f}")
print(f"\nall engines agree on {len(sums[base])} checksums" if not disagreements else
      f"\n{len(disagreements)} DISAGREEMENTS:\n" + "\n".join(f"  {e} {k}: {base} {a} vs {b}"
                                                            for e, k, a, b in disagreements))
json.dump({"results": results, "checksums": sums, "disagreements": disagreements},
          open(os.path.join(work, "plain-results.json"), "w"), indent=1, default=str)
sys.exit(1 if disagreements else 0)
