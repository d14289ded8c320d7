"""Run the full stock pipeline (jobs/stock_market/pipeline.sql) in Strata and its peers on the same bronze table;
check that every peer's ten tables equal Strata's row by row; print wall time and peak memory of each whole
process tree, as ratios to Strata's.

usage: compare.py STRATA_BINARY BRONZE_DIR WORK_DIR ENGINES
  ENGINES: comma-separated, from strata, cluster, duckdb, polars, pyspark, datafusion; a peer whose
  <engine>_job.py is not in this folder yet is skipped. The first engine is the reference (normally strata).
Each engine writes under WORK_DIR/pipeline-<engine> (log: WORK_DIR/pipeline-<engine>.log), deleted after the
comparison unless STRATA_BENCH_KEEP=1 (six engines write ~15 GB); results go to WORK_DIR/pipeline-results.json.
Tables are compared sorted by their keys (common.TABLES): same columns, same rows,
integers, dates, timestamps and strings exactly, floats to 1e-9 relative or 1e-9 absolute, NULL only where the
reference has NULL; the first differing row is printed with its keys, column and both values. Exits non-zero when
a table disagrees.
"""
import json
import os
import shutil
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.dirname(here))
import common  # noqa: E402
from measure import measure  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(here)))
PIPELINE = os.path.join(REPO, "jobs", "stock_market", "pipeline.sql")
NAMES = {"strata": "Strata", "cluster": "Strata cluster", "datafusion": "datafusion-python", "duckdb": "DuckDB",
         "polars": "Polars", "pyspark": "PySpark"}
REL, ABS = 1e-9, 1e-9
NOTES = []  # differences that are not disagreements (column order)


class Table:
    """One output table, read column by column (the gold table of a large run does not fit twice in memory)."""

    def __init__(self, path, delta):
        self.path, self.delta = path, delta
        self.exists = os.path.exists(path)
        self.columns = self._schema().names if self.exists else []

    def _schema(self):
        if self.delta:
            from deltalake import DeltaTable

            return pa.schema(DeltaTable(self.path).schema().to_arrow())
        return pq.read_schema(self.path) if os.path.isfile(self.path) else pq.ParquetDataset(self.path).schema

    def read(self, columns):
        if self.delta:
            from deltalake import DeltaTable

            return DeltaTable(self.path).to_pyarrow_table(columns=columns)
        return pq.read_table(self.path, columns=columns)  # a file, or a Spark-style directory of part files


def run_strata(engine, strata, bronze, out, log):
    """Strata on a fresh warehouse whose bronze/market_daily is a link to the bronze table (a full run). Strata also
    computes gold.sector_strength, which the peers do not: it does more work than they do."""
    os.makedirs(os.path.join(out, "bronze"))
    os.symlink(os.path.abspath(bronze), os.path.join(out, "bronze", "market_daily"))
    # The symbols' metadata, which `strata generate market` writes beside the bronze table (gold.sector_strength).
    metadata = os.path.join(os.path.dirname(os.path.abspath(bronze)), "symbol_metadata")
    os.symlink(metadata, os.path.join(out, "bronze", "symbol_metadata"))
    cmd = [strata, "run", PIPELINE, "--warehouse", out, "--no-progress", "--full-refresh"]
    also = ()
    if engine == "cluster":
        cluster = json.load(open(os.environ["STRATA_BENCH_CLUSTER"]))
        cmd += ["--cluster", cluster["scheduler"]]
        also = [cluster["scheduler_pid"], *cluster["executor_pids"]]
    elif os.environ.get("STRATA_BENCH_MEMORY_LIMIT"):
        cmd += ["--memory-limit", os.environ["STRATA_BENCH_MEMORY_LIMIT"]]
    result = measure(cmd, log=log, also=also, cwd=REPO)
    return result, {name: Table(os.path.join(out, path), True) for name, (path, _) in common.TABLES.items()}


def run_peer(engine, bronze, out, log):
    os.makedirs(out)
    result = measure([sys.executable, os.path.join(here, f"{engine}_job.py"), bronze, out], log=log)
    return result, {name: Table(os.path.join(out, f"{name}.parquet"), False) for name in common.TABLES}


def _normalize(arr, like):
    """`arr` as comparable numpy values of `like`'s kind: (kind, values, null mask)."""
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    typ = like.type
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        kind, arr = "float", pc.cast(arr, pa.float64())
    elif pa.types.is_integer(typ) or pa.types.is_boolean(typ):
        kind = "int"
        if pa.types.is_floating(arr.type):  # exact integers only
            f = arr.to_numpy(zero_copy_only=False)
            if np.any(np.isfinite(f) & (f != np.round(f))):
                return "float", f, pc.is_null(arr).to_numpy(zero_copy_only=False)
        arr = pc.cast(arr, pa.int64(), safe=False)
    elif pa.types.is_date(typ):
        kind = "int"
        if pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.timestamp("us", arr.type.tz))
        arr = pc.cast(pc.cast(arr, pa.date32()), pa.int32())
    elif pa.types.is_timestamp(typ):
        kind = "int"
        if pa.types.is_date(arr.type):
            arr = pc.cast(arr, pa.timestamp("us"))
        # A zone-less timestamp is taken as UTC; compare epoch microseconds.
        arr = pc.cast(pc.cast(arr, pa.timestamp("us", arr.type.tz)), pa.int64())
    else:
        kind, arr = "str", pc.cast(arr, pa.string())
    nulls = pc.is_null(arr).to_numpy(zero_copy_only=False)
    if kind == "float":
        return kind, arr.to_numpy(zero_copy_only=False).astype(np.float64), nulls
    if kind == "int":
        return kind, pc.fill_null(arr, 0).to_numpy(zero_copy_only=False), nulls
    return kind, arr, nulls  # strings stay Arrow


def _equal(ref_col, got_col):
    """Whether two key columns hold the same values (no NULLs in keys)."""
    kind, a, an = _normalize(ref_col, ref_col)
    _, b, bn = _normalize(got_col, ref_col)
    if kind == "str":
        return a.equals(b)
    return bool(np.array_equal(an, bn) and np.array_equal(a, b))


def _keys(table, keys, ref_types):
    """The key columns, dates as date32, and the permutation that sorts them."""
    t = table.read(keys)
    for k in keys:
        col = t.column(k)
        if k in ref_types and pa.types.is_date(ref_types[k]) and not pa.types.is_date(col.type):
            tz = getattr(col.type, "tz", None)
            col = pc.cast(pc.cast(col, pa.timestamp("us", tz)), pa.date32())
            t = t.set_column(t.column_names.index(k), k, col)
    order = pc.sort_indices(t, sort_keys=[(k, "ascending") for k in keys])
    return t.take(order).combine_chunks(), order


def compare_table(name, ref, got):
    """None when `got` equals `ref` (both Table), else a description of the first difference."""
    keys = common.TABLES[name][1]
    if not got.exists:
        return "missing output"
    if ref.columns != got.columns:
        if sorted(ref.columns) != sorted(got.columns):
            return f"columns differ: {ref.columns} vs {got.columns}"
        NOTES.append(f"{name}: columns in another order: {got.columns}")
    rk, r_order = _keys(ref, keys, {})
    gk, g_order = _keys(got, keys, {k: rk.column(k).type for k in keys})
    if rk.num_rows != gk.num_rows or not all(_equal(rk.column(k), gk.column(k)) for k in keys):
        # The first key present in one but not the other.
        rs = set(zip(*[rk.column(k).to_pylist() for k in keys]))
        gs = set(zip(*[gk.column(k).to_pylist() for k in keys]))
        only_r, only_g = sorted(rs - gs), sorted(gs - rs)
        msg = f"{rk.num_rows} rows vs {gk.num_rows}"
        if only_r:
            msg += f"; {len(only_r)} keys only in the reference, first {dict(zip(keys, only_r[0]))}"
        if only_g:
            msg += f"; {len(only_g)} keys only in the peer, first {dict(zip(keys, only_g[0]))}"
        if len(rs) != rk.num_rows or len(gs) != gk.num_rows:
            msg += f"; duplicate keys: {rk.num_rows - len(rs)} in the reference, {gk.num_rows - len(gs)} in the peer"
        return msg
    first = None
    for c in ref.columns:
        if c in keys:
            continue
        rc = ref.read([c]).column(c).take(r_order)
        gc = got.read([c]).column(c).take(g_order)
        kind, a, an = _normalize(rc, rc)
        gkind, b, bn = _normalize(gc, rc)
        if kind != gkind:
            return f"column {c}: type {gc.type} where the reference has {rc.type}"
        bad = an != bn
        both = ~(an | bn)
        if kind == "float":
            with np.errstate(invalid="ignore"):
                close = np.abs(a - b) <= np.maximum(REL * np.maximum(np.abs(a), np.abs(b)), ABS)
            close |= (a == b) | (np.isnan(a) & np.isnan(b))
            bad |= both & ~close
        elif kind == "str":
            bad |= both & pc.fill_null(pc.not_equal(a, b), False).to_numpy(zero_copy_only=False)
        else:
            bad |= both & (a != b)
        idx = np.flatnonzero(bad)
        if len(idx) and (first is None or idx[0] < first[0]):
            i = int(idx[0])
            first = (i, c, len(idx), None if an[i] else rc[i].as_py(), None if bn[i] else gc[i].as_py())
    if first is None:
        return None
    i, c, count, x, y = first
    at = {k: rk.column(k)[i].as_py() for k in keys}
    return f"row {i} {at} column {c}: reference {x!r} vs peer {y!r} ({count} rows differ in {c})"


def main():
    strata, bronze, work, engines = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    os.makedirs(work, exist_ok=True)
    results, outputs, skipped = {}, {}, []
    for engine in engines:
        if engine not in ("strata", "cluster") and not os.path.exists(os.path.join(here, f"{engine}_job.py")):
            print(f"{NAMES.get(engine, engine):<18} skipped: no {engine}_job.py yet", flush=True)
            skipped.append(engine)
            continue
        out = os.path.join(work, f"pipeline-{engine}")
        shutil.rmtree(out, ignore_errors=True)
        log = os.path.join(work, f"pipeline-{engine}.log")
        if engine in ("strata", "cluster"):
            results[engine], outputs[engine] = run_strata(engine, strata, bronze, out, log)
        else:
            results[engine], outputs[engine] = run_peer(engine, bronze, out, log)
        print(f"{NAMES.get(engine, engine):<18} {results[engine][0]:8.1f} s {results[engine][1]:8.0f} MiB",
              flush=True)
    ran = list(results)
    if not ran:
        sys.exit("no engine ran")
    base = ran[0]
    checks, notes = {}, []
    for engine in ran[1:]:
        checks[engine] = {}
        for name in common.TABLES:
            try:
                del NOTES[:]
                checks[engine][name] = compare_table(name, outputs[base][name], outputs[engine].get(name))
                notes.extend(f"{NAMES.get(engine, engine)} {n}" for n in NOTES)
            except Exception as e:  # noqa: BLE001  a malformed output is a disagreement, not a crash
                checks[engine][name] = f"could not compare: {type(e).__name__}: {e}"
    rows_in = outputs[base]["daily_bars"].read(["symbol"]).num_rows
    print(f"\nfull stock pipeline: {rows_in:,} clean daily bars, 10 tables out; wall time and peak RSS of the "
          f"process tree\n")
    print(f"{'engine':<18} {'wall s':>8} {'peak MiB':>9} {'wall / ' + NAMES.get(base, base):>16} "
          f"{'memory / ' + NAMES.get(base, base):>18}  outputs")
    b_wall, b_mem = results[base]
    for e, (wall, mem) in results.items():
        bad = [t for t, m in checks.get(e, {}).items() if m]
        status = "reference" if e == base else ("all 10 tables equal" if not bad else f"{len(bad)} tables differ")
        print(f"{NAMES.get(e, e):<18} {wall:>8.1f} {mem:>9.0f} {wall / b_wall:>16.2f} {mem / b_mem:>18.2f}  {status}")
    disagreements = [(e, t, m) for e, c in checks.items() for t, m in c.items() if m]
    if disagreements:
        print(f"\n{len(disagreements)} DISAGREEMENTS with {NAMES.get(base, base)}:")
        for e, t, m in disagreements:
            print(f"  {NAMES.get(e, e)} {t}: {m}")
    elif len(ran) > 1:
        print(f"\nevery engine's 10 tables equal {NAMES.get(base, base)}'s "
              f"(floats to {REL:g} relative / {ABS:g} absolute)")
    if notes:
        print("\nnotes:\n" + "\n".join(f"  {n}" for n in notes))
    json.dump({"reference": base, "notes": notes, "results": results, "skipped": skipped,
               "rows": {t: outputs[base][t].read(["symbol"]).num_rows for t in common.TABLES},
               "checks": checks, "disagreements": disagreements},
              open(os.path.join(work, "pipeline-results.json"), "w"), indent=1, default=str)
    # Six engines' outputs are ~15 GB at 1x: kept only when asked (STRATA_BENCH_KEEP=1), for looking into a difference.
    if os.environ.get("STRATA_BENCH_KEEP") != "1":
        for engine in ran:
            shutil.rmtree(os.path.join(work, f"pipeline-{engine}"), ignore_errors=True)
    sys.exit(1 if disagreements else 0)


if __name__ == "__main__":
    main()
