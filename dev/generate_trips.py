"""Deterministic NYC-TLC-like yellow taxi trips for one month, with injected defects, as a Parquet file.

    generate_trips.py OUT.parquet --month 2024-01 --trips 20000 --seed 7 --defect-rate 0.02

Each trip has probability `defect-rate` of exactly one defect, counted per kind:
  time_travel    dropoff at or before pickup
  outside_month  pickup outside the month
  too_fast       an average speed above 100 mph (distance inflated)
  negative_fare  a negative fare (and total)
  no_zone        a pickup zone outside 1..263
Prints {"trips": N, "defects": {kind: count}, "defect_keys": {kind: [[pickup_us, PULocationID, DOLocationID]]}}
as JSON, so tests can check that the job's expectations catch exactly these rows.
"""
import argparse
import datetime
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--month", default="2024-01")
p.add_argument("--trips", type=int, default=20000)
p.add_argument("--seed", type=int, default=7)
p.add_argument("--defect-rate", type=float, default=0.02)
a = p.parse_args()

rng = random.Random(a.seed)
year, month = map(int, a.month.split("-"))
start = datetime.datetime(year, month, 1)
end = datetime.datetime(year + (month == 12), month % 12 + 1, 1)
span = int((end - start).total_seconds())
kinds = ["time_travel", "outside_month", "too_fast", "negative_fare", "no_zone"]
defects = {k: 0 for k in kinds}
keys = {k: [] for k in kinds}
cols = {c: [] for c in ["VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count",
                        "trip_distance", "PULocationID", "DOLocationID", "payment_type", "fare_amount",
                        "tip_amount", "total_amount"]}
used = set()
for i in range(a.trips):
    while True:
        pickup = start + datetime.timedelta(seconds=rng.randrange(span - 7200), microseconds=0)
        pu, do = rng.randint(1, 263), rng.randint(1, 263)
        if (pickup, pu, do) not in used:
            used.add((pickup, pu, do))
            break
    minutes = rng.uniform(3, 60)
    distance = round(minutes / 60 * rng.uniform(5, 30), 2)
    dropoff = pickup + datetime.timedelta(seconds=int(minutes * 60))
    fare = round(3 + distance * 2.5 + minutes * 0.5, 2)
    tip = round(fare * rng.choice([0, 0, 0.1, 0.15, 0.2]), 2)
    kind = rng.choice(kinds) if rng.random() < a.defect_rate else None
    if kind == "time_travel":
        dropoff = pickup - datetime.timedelta(seconds=rng.randrange(0, 600))
    elif kind == "outside_month":
        pickup = start - datetime.timedelta(days=rng.randint(1, 300))
        dropoff = pickup + datetime.timedelta(seconds=int(minutes * 60))
    elif kind == "too_fast":
        distance = round(minutes / 60 * rng.uniform(150, 400), 2)
    elif kind == "negative_fare":
        fare = -fare
    elif kind == "no_zone":
        pu = rng.choice([0, 264, 265])
    if kind:
        defects[kind] += 1
        us = int((pickup - datetime.datetime(1970, 1, 1)).total_seconds() * 1_000_000)
        keys[kind].append([us, pu, do])
    cols["VendorID"].append(rng.choice([1, 2]))
    cols["tpep_pickup_datetime"].append(pickup)
    cols["tpep_dropoff_datetime"].append(dropoff)
    cols["passenger_count"].append(float(rng.randint(1, 4)))
    cols["trip_distance"].append(distance)
    cols["PULocationID"].append(pu)
    cols["DOLocationID"].append(do)
    cols["payment_type"].append(rng.choice([1, 1, 1, 2]))
    cols["fare_amount"].append(fare)
    cols["tip_amount"].append(tip)
    cols["total_amount"].append(round(fare + tip + 1.0, 2))
types = {"VendorID": pa.int32(), "tpep_pickup_datetime": pa.timestamp("us"), "tpep_dropoff_datetime": pa.timestamp("us"),
         "passenger_count": pa.float64(), "trip_distance": pa.float64(), "PULocationID": pa.int32(),
         "DOLocationID": pa.int32(), "payment_type": pa.int64(), "fare_amount": pa.float64(),
         "tip_amount": pa.float64(), "total_amount": pa.float64()}
table = pa.table({c: pa.array(v, types[c]) for c, v in cols.items()})
os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
pq.write_table(table, a.out)
print(json.dumps({"trips": a.trips, "defects": defects, "defect_keys": keys}), flush=True)
os._exit(0)
