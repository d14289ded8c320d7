"""Compare Delta tables of two warehouses with the deltalake Python package (an independent Delta reader):
same Delta schema, same partition columns, same rows after sorting. Floating-point columns may differ in the
last bits (aggregation order differs between engines), so they compare within a relative tolerance. A quarantine
table's `_run_id` column names the run that wrote each row, which differs between runs by design: it is left out.

usage: compare_delta.py WAREHOUSE_A WAREHOUSE_B schema.table [schema.table ...]
prints one line per table; exit 1 if any differs
"""
import os
import sys

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

REL_TOL = 1e-12


RUN_ID_COLUMN = "_run_id"


def load(warehouse, name):
    table = DeltaTable(os.path.join(warehouse, *name.split(".")))
    data = table.to_pyarrow_table()
    if RUN_ID_COLUMN in data.column_names:
        data = data.drop_columns([RUN_ID_COLUMN])
    return table, data


def column_mismatches(x, y, floating):
    """A boolean array, true where two sorted columns differ (NULLs match NULLs; floats within REL_TOL, NaN
    matches NaN), computed in Arrow: tables of millions of rows compare without a Python object per value."""
    both_null = pc.and_(pc.is_null(x), pc.is_null(y))
    if floating:
        scale = pc.max_element_wise(pc.abs(x), pc.abs(y))
        # An infinity is close only to itself, which `equal` below already accepts.
        finite = pc.and_(pc.is_finite(x), pc.is_finite(y))
        close = pc.and_(finite, pc.less_equal(pc.abs(pc.subtract(x, y)),
                                              pc.max_element_wise(pc.multiply(scale, REL_TOL), 1e-300)))
        nan = pc.and_(pc.is_nan(x), pc.is_nan(y))
        same = pc.or_kleene(pc.or_kleene(pc.equal(x, y), close), nan)
    else:
        same = pc.equal(x, y)
    return pc.invert(pc.or_kleene(pc.fill_null(same, False), both_null))


def rows_equal(a, b):
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} vs {b.num_rows} rows"
    keys = [(c, "ascending") for c in a.column_names if not pa.types.is_floating(a.schema.field(c).type)]
    a = a.sort_by(keys)
    b = b.select(a.column_names).sort_by(keys)
    for name in a.column_names:
        floating = pa.types.is_floating(a.schema.field(name).type)
        x, y = a[name].combine_chunks(), b[name].combine_chunks()
        differs = column_mismatches(x, y, floating)
        if pc.any(differs).as_py():
            i = pc.index(differs, True).as_py()
            return f"column {name} row {i}: {x[i].as_py()!r} vs {y[i].as_py()!r}"
    return None


def main():
    a_wh, b_wh, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    failed = 0
    for name in names:
        ta, a = load(a_wh, name)
        tb, b = load(b_wh, name)
        problems = []
        if ta.schema() != tb.schema():
            problems.append(f"schema {ta.schema()} vs {tb.schema()}")
        if ta.metadata().partition_columns != tb.metadata().partition_columns:
            problems.append(f"partitions {ta.metadata().partition_columns} vs {tb.metadata().partition_columns}")
        diff = rows_equal(a, b)
        if diff:
            problems.append(diff)
        failed += bool(problems)
        print(f"{'DIFF' if problems else 'same'} {name}: {a.num_rows} rows" + (": " + "; ".join(problems) if problems else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: deltalake's runtime threads can abort the process while Python shuts down.
    os._exit(code)
