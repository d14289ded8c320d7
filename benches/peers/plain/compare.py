"""Run the plain-SQL pipeline in Strata and its peers on the same data; check that every engine's five tables
agree; print wall time and peak memory of each whole process tree, as ratios to Strata's.

usage: compare.py STRATA_BINARY BRONZE_DIR WORK_DIR ENGINES   (ENGINES: comma-separated, e.g. strata,duckdb)
Writes WORK_DIR/plain-results.json. Exits non-zero when an output disagrees or an engine fails (a peer that fails,
e.g. out of memory at the large end of the scale curve, is reported as failed and the others still run).
Checksums are computed by DuckDB straight from each engine's Parquet files (bounded memory, whatever the size);
with STRATA_BENCH_DISCARD=1 each engine's outputs are deleted once checksummed (the 16x run would not fit the disk
three times).
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
    """Row count, and per column the non-null count and the sum (timestamps as epoch microseconds), of each table
    given as its list of Parquet files."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = '4GB'")
    sums = {}
    for t, files in tables.items():
        con.execute(f"CREATE OR REPLACE VIEW t AS SELECT * FROM read_parquet({files!r})")
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
    return sums


def agree(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def parquet(path):
    """The Parquet files of a peer's output: one file, or a directory of part files."""
    if not os.path.isdir(path):
        return [path]
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".parquet"))


def delta(path):
    """The Parquet files of a Delta table's current version."""
    return [u.removeprefix("file://") for u in DeltaTable(path).file_uris()]


results, sums, failures = {}, {}, {}
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
        run = lambda: measure(cmd, log=log, also=also)  # noqa: E731
        files = lambda: {t: delta(os.path.join(out, layer, t)) for t, layer in TABLES.items()}  # noqa: E731
    else:
        cmd = [sys.executable, os.path.join(here, f"{engine}_job.py"), bronze, out]
        run = lambda: measure(cmd, log=log)  # noqa: E731
        files = lambda: {t: parquet(os.path.join(out, f"{t}.parquet")) for t in TABLES}  # noqa: E731
    try:
        results[engine] = run()
    except SystemExit as failed:
        failures[engine] = str(failed)
        print(f"{NAMES[engine]:<18} FAILED: {failed}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        continue
    sums[engine] = checksums(files())
    if os.environ.get("STRATA_BENCH_DISCARD") == "1":
        shutil.rmtree(out, ignore_errors=True)
    print(f"{NAMES[engine]:<18} {results[engine][0]:8.1f} s {results[engine][1]:8.0f} MiB", flush=True)

ran = [e for e in engines if e in results]
if not ran:
    sys.exit("every engine failed")
base = ran[0]
disagreements = [(e, k, sums[base].get(k), v) for e in ran[1:] for k, v in sums[e].items()
                 if not agree(sums[base].get(k), v)]
rows = sums[base]["rolling.rows"]
print(f"\nplain SQL pipeline: {rows:,} rows in, 5 tables out; wall time and peak RSS of the process tree\n")
print(f"{'engine':<18} {'wall s':>8} {'peak MiB':>9} {'wall / ' + NAMES[base]:>14} {'memory / ' + NAMES[base]:>16}")
s_wall, s_mem = results[base]
for e, (wall, mem) in results.items():
    print(f"{NAMES[e]:<18} {wall:>8.1f} {mem:>9.0f} {wall / s_wall:>14.2f} {mem / s_mem:>16.2f}")
for e, why in failures.items():
    print(f"{NAMES[e]:<18} failed: {why}")
print(f"\nall engines agree on {len(sums[base])} checksums" if not disagreements else
      f"\n{len(disagreements)} DISAGREEMENTS:\n" + "\n".join(f"  {e} {k}: {base} {a} vs {b}"
                                                            for e, k, a, b in disagreements))
json.dump({"results": results, "failures": failures, "checksums": sums, "disagreements": disagreements},
          open(os.path.join(work, "plain-results.json"), "w"), indent=1, default=str)
sys.exit(1 if disagreements or failures else 0)
