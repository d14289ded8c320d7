"""Seed 001's stock_metrics, computed independently with pandas from the raw messages a test produced.

Usage: check_stock_metrics.py MESSAGES.jsonl
Reads one produced Kafka message value per line and applies the storage rules of jobs/stock_storage/storage.sql as
the seed describes them: a message that is not JSON or lacks a numeric price, a symbol or a timestamp is dropped; a
price must be positive and a volume not negative; of several ticks of one (symbol, timestamp) the last fetched
counts. Prints one JSON object per (symbol, one-minute window), sorted: symbol, window_start (ISO), window_end,
avg_price, max_price, min_price, avg_volume, ticks.
"""
import json
import sys

import pandas as pd

rows = []
with open(sys.argv[1]) as f:
    for line in f:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if not isinstance(m, dict):
            continue
        price = m.get("price")
        if not isinstance(price, (int, float)) or isinstance(price, bool):
            continue
        if not m.get("symbol") or not m.get("timestamp"):
            continue
        rows.append(m)

df = pd.DataFrame(rows)
df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).dt.tz_localize(None)
df = df[(df["price"] > 0) & (df["volume"].isna() | (df["volume"] >= 0))]
df = df.sort_values("fetch_timestamp", na_position="first").drop_duplicates(["symbol", "timestamp"], keep="last")
df["window_start"] = df["timestamp"].dt.floor("1min")
out = (
    df.groupby(["symbol", "window_start"])
    .agg(avg_price=("price", "mean"), max_price=("price", "max"), min_price=("price", "min"),
         avg_volume=("volume", "mean"), ticks=("price", "size"))
    .reset_index()
    .sort_values(["symbol", "window_start"])
)
for r in out.itertuples(index=False):
    print(json.dumps({
        "symbol": r.symbol,
        "window_start": r.window_start.isoformat(),
        "window_end": (r.window_start + pd.Timedelta(minutes=1)).isoformat(),
        "avg_price": float(r.avg_price),
        "max_price": float(r.max_price),
        "min_price": float(r.min_price),
        "avg_volume": None if pd.isna(r.avg_volume) else float(r.avg_volume),
        "ticks": int(r.ticks),
    }))
