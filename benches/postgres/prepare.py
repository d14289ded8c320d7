"""The same 1 M stock ticks in three forms, for benches/postgres/run.sh: a Delta table (Strata's input), a CSV file
(psql \\copy's) and a SQL file of multi-row INSERTs (1,000 rows per statement, one transaction).

    prepare.py OUT_DIR ROWS
"""
import datetime
import decimal
import os
import sys

import pyarrow as pa
import pyarrow.csv as csv
from deltalake import write_deltalake

out, n = sys.argv[1], int(sys.argv[2])
symbols = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "JPM", "V", "XOM"]
start = datetime.datetime(2024, 1, 2, 9, 30)
ids = list(range(1, n + 1))
table = pa.table(
    {
        "id": pa.array(ids, pa.int64()),
        "symbol": pa.array([symbols[i % 10] for i in ids], pa.string()),
        "price": pa.array([decimal.Decimal(100_0000 + (i * 7919) % 50_0000).scaleb(-4) for i in ids], pa.decimal128(18, 4)),
        "volume": pa.array([(i * 37) % 100_000 for i in ids], pa.int64()),
        "ts": pa.array([start + datetime.timedelta(seconds=i) for i in ids], pa.timestamp("us")),
        "fetched": pa.array(
            [start + datetime.timedelta(seconds=i, microseconds=250) for i in ids], pa.timestamp("us", tz="UTC")
        ),
        "ok": pa.array([i % 5 != 0 for i in ids], pa.bool_()),
    }
)
write_deltalake(os.path.join(out, "ticks"), table, mode="overwrite")
csv.write_csv(table, os.path.join(out, "ticks.csv"), csv.WriteOptions(include_header=False))
with open(os.path.join(out, "ticks.csv")) as f, open(os.path.join(out, "inserts.sql"), "w") as sql:
    sql.write("BEGIN;\n")
    batch = []

    def flush():
        sql.write("INSERT INTO ticks VALUES " + ",".join(batch) + ";\n")
        batch.clear()

    for line in f:
        i, symbol, price, volume, ts, fetched, ok = line.rstrip("\n").split(",")
        symbol = symbol.strip('"')
        batch.append(f"({i},'{symbol}',{price},{volume},'{ts}','{fetched}',{ok})")
        if len(batch) == 1000:
            flush()
    if batch:
        flush()
    sql.write("COMMIT;\n")
os._exit(0)
