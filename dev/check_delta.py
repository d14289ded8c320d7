"""Open Strata's output tables with the deltalake Python package (an independent Delta reader) and check row counts.

usage: check_delta.py WAREHOUSE '{"schema.table": rows, ...}'
"""
import json
import os
import sys

from deltalake import DeltaTable


def main() -> int:
    warehouse, expected = sys.argv[1], json.loads(sys.argv[2])
    failed = 0
    for name, rows in expected.items():
        path = os.path.join(warehouse, *name.split("."))
        table = DeltaTable(path)
        got = table.to_pyarrow_table().num_rows
        status = "ok" if got == rows else "MISMATCH"
        failed += status != "ok"
        print(f"{status} {name}: version {table.version()}, {got} rows (expected {rows}), "
              f"partitions {table.metadata().partition_columns}")
    return 1 if failed else 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Skip interpreter teardown: deltalake's runtime threads can abort the process while Python shuts down.
    os._exit(code)
