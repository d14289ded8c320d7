"""Seed 004's KPIs, recomputed independently with pandas from the raw TLC files and compared with the job's tables.

Usage: check_seed004.py RAW_DIR ZONE_HOURLY_KPIS.jsonl KPI_STATUS.jsonl

RAW_DIR holds one `month=YYYY-MM-01` directory of Parquet files per month (what jobs/taxi_trips/curate.sql reads);
the JSONL files are PostgreSQL's `zone_hourly_kpis` and `kpi_status`, one row per line as row_to_json writes them.
The curation rules, as docs/pipelines/004-taxi-trips.md states them: a trip is kept when its dropoff is after its
pickup, its pickup is within its file's month, its speed (distance over duration) is at most 100 mph (or unknown),
its fare and total are not negative, both zones are within 1..263, and it has a vendor. KPIs per pickup zone and hour:
trips, revenue (sum of totals), average fare, tip rate (tips over fares), average distance and duration; per month:
trips read and kept, the retention rate in percent, hours with KPIs, the first and last pickup.

Decimal columns are compared to half a unit of their last digit (the job rounds where pandas computes in floats).
Exits 1 listing the first differences; otherwise prints {"kept": N, "zone_hours": N, "months": N}.
"""
import glob
import json
import os
import sys

import pandas as pd


def read_raw(raw_dir):
    frames = []
    for path in sorted(glob.glob(os.path.join(raw_dir, "month=*", "*.parquet"))):
        month = pd.Timestamp(os.path.basename(os.path.dirname(path)).split("=", 1)[1])
        df = pd.read_parquet(path)
        df["month"] = month
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def curate(raw):
    t = pd.DataFrame({
        "month": raw["month"],
        "vendor_id": raw["VendorID"],
        "pickup_at": pd.to_datetime(raw["tpep_pickup_datetime"]),
        "dropoff_at": pd.to_datetime(raw["tpep_dropoff_datetime"]),
        "distance": raw["trip_distance"].astype(float),
        "pickup_zone": raw["PULocationID"],
        "dropoff_zone": raw["DOLocationID"],
        "fare": raw["fare_amount"].astype(float).round(2),
        "tip": raw["tip_amount"].astype(float).round(2),
        "total": raw["total_amount"].astype(float).round(2),
    })
    t["duration_min"] = (t["dropoff_at"] - t["pickup_at"]).dt.total_seconds() / 60
    speed = t["distance"] / (t["duration_min"] / 60)
    speed = speed.where(t["duration_min"] > 0)
    end = t["month"] + pd.DateOffset(months=1)
    ok = (t["dropoff_at"] > t["pickup_at"]) & (t["pickup_at"] >= t["month"]) & (t["pickup_at"] < end)
    ok &= speed.isna() | (speed <= 100)
    ok &= (t["fare"] >= 0) & (t["total"] >= 0)
    ok &= t["pickup_zone"].between(1, 263) & t["dropoff_zone"].between(1, 263) & t["vendor_id"].notna()
    return t[ok].copy()


def close(a, b, tolerance):
    if a is None or b is None or (isinstance(a, float) and pd.isna(a)) or (isinstance(b, float) and pd.isna(b)):
        return (a is None or pd.isna(a)) and (b is None or pd.isna(b))
    return abs(float(a) - float(b)) <= tolerance + 1e-9 * max(1.0, abs(float(a)))


def main():
    raw_dir, kpis_path, status_path = sys.argv[1:4]
    raw = read_raw(raw_dir)
    kept = curate(raw)
    kept["hour"] = kept["pickup_at"].dt.floor("h")
    g = kept.groupby(["pickup_zone", "hour"])
    expected = pd.DataFrame({
        "trips": g.size(),
        "revenue": g["total"].sum(),
        "avg_fare": g["fare"].mean(),
        "tip_rate": g["tip"].sum() / g["fare"].sum(),
        "avg_distance_miles": g["distance"].mean(),
        "avg_duration_min": g["duration_min"].mean(),
    })
    tolerances = {"trips": 0, "revenue": 0.005, "avg_fare": 0.005, "tip_rate": 0.00005,
                  "avg_distance_miles": 0.005, "avg_duration_min": 0.005}
    with open(kpis_path) as f:
        got = pd.DataFrame([json.loads(line) for line in f if line.strip()])
    got["hour"] = pd.to_datetime(got["hour"])
    got = got.set_index(["zone", "hour"]).sort_index()
    expected.index = expected.index.set_names(["zone", "hour"])
    expected = expected.sort_index()
    problems = []
    if list(got.index) != list(expected.index):
        missing = sorted(set(expected.index) - set(got.index))[:5]
        extra = sorted(set(got.index) - set(expected.index))[:5]
        problems.append(f"zone_hourly_kpis: {len(got)} rows, expected {len(expected)}; missing {missing}, "
                        f"unexpected {extra}")
    else:
        for column, tolerance in tolerances.items():
            for key, e, v in zip(expected.index, expected[column].tolist(), got[column].tolist()):
                if not close(e, v, tolerance):
                    problems.append(f"zone_hourly_kpis {key} {column}: {v!r}, expected {e!r}")
    months = []
    for month, rows in raw.groupby("month"):
        k = kept[kept["month"] == month]
        months.append({
            "month": month.strftime("%Y-%m-%d"), "raw_trips": len(rows), "curated_trips": len(k),
            "retention_rate": 100.0 * len(k) / len(rows), "hours_processed": k["hour"].nunique(),
            "first_pickup": k["pickup_at"].min().isoformat(), "last_pickup": k["pickup_at"].max().isoformat(),
        })
    with open(status_path) as f:
        status = sorted((json.loads(line) for line in f if line.strip()), key=lambda r: r["month"])
    if len(status) != len(months):
        problems.append(f"kpi_status: {len(status)} months, expected {len(months)}")
    for want, row in zip(months, status):
        for column in ["month", "raw_trips", "curated_trips", "hours_processed", "first_pickup", "last_pickup"]:
            if str(row[column]) != str(want[column]):
                problems.append(f"kpi_status {want['month']} {column}: {row[column]!r}, expected {want[column]!r}")
        if not close(want["retention_rate"], row["retention_rate"], 0.005):
            problems.append(f"kpi_status {want['month']} retention_rate: {row['retention_rate']}, "
                            f"expected {want['retention_rate']}")
    if problems:
        print("\n".join(problems[:25]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"kept": len(kept), "zone_hours": len(got), "months": len(months)}))


if __name__ == "__main__":
    main()
