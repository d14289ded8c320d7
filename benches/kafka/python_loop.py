"""The peer: a plain Python consumer loop, confluent-kafka + deltalake, reading a topic into a Delta table.

    python_loop.py BROKER TOPIC TABLE_DIR

Assigns every partition from the beginning, decodes each message with json.loads, and appends every 100,000
messages to the Delta table with write_deltalake (one commit per chunk, as such loops usually do). Stops when
every partition has reached its end. Prints {"messages", "rows", "seconds"} as JSON.
"""
import json
import sys
import time
from datetime import datetime

import pyarrow as pa
from deltalake import write_deltalake

from consumer import assigned, messages

broker, topic, table = sys.argv[1:4]
start = time.perf_counter()
consumer, partitions = assigned(broker, topic, "python-loop")
schema = pa.schema([("id", pa.int64()), ("symbol", pa.string()), ("price", pa.float64()), ("ts", pa.timestamp("us"))])
rows, count = [], 0


def flush():
    global rows
    if rows:
        batch = pa.Table.from_pylist(rows, schema=schema)
        write_deltalake(table, batch, mode="append")
        rows = []


for m in messages(consumer, partitions):
    count += 1
    v = json.loads(m.value())
    v["ts"] = datetime.fromisoformat(v["ts"].rstrip("Z"))
    rows.append(v)
    if len(rows) >= 100_000:
        flush()
flush()
consumer.close()
elapsed = time.perf_counter() - start
print(json.dumps({"messages": count, "seconds": elapsed}))
