"""Append the rows of a Delta table whose event time falls on days FROM..TO (inclusive, by UTC date) to another Delta
table, partitioned like the source: how the incremental-run tests feed a bronze table day by day.

usage: append_days.py SOURCE DEST FROM TO [--column ts]
prints the number of rows appended
"""
import argparse
import datetime as dt
import os
import sys

import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("dest")
    ap.add_argument("first", type=dt.date.fromisoformat)
    ap.add_argument("last", type=dt.date.fromisoformat)
    ap.add_argument("--column", default="ts")
    args = ap.parse_args()
    source = DeltaTable(args.source)
    data = source.to_pyarrow_table()
    day = pc.cast(data[args.column], "date32")
    keep = pc.and_(pc.greater_equal(day, args.first), pc.less_equal(day, args.last))
    rows = data.filter(keep)
    if rows.num_rows:
        write_deltalake(args.dest, rows, mode="append", partition_by=source.metadata().partition_columns or None)
    print(rows.num_rows)


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # Skip interpreter teardown: deltalake's runtime threads can abort the process while Python shuts down.
    os._exit(0)
