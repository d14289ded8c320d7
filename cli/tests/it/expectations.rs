//! Expectations on `jobs/taxi_trips/curate.sql` over generated trips with injected defects: every rule counts
//! exactly the defects of its kind, the quarantine table holds exactly the quarantined trips, and a `FAIL` rule with
//! violations stops the run with nothing committed.

use std::path::Path;
use std::process::Command;

use crate::cluster::TRIP_PARAMS;
use crate::kafka::table;
use crate::{python, repo_root, stderr, stdout, strata};

/// Write `trips` generated trips of January 2024 into `<warehouse>/raw/yellow/month=2024-01-01`; returns the
/// generator's report (defect counts and the keys of the defective trips).
pub fn generate_trips(warehouse: &Path, trips: usize, seed: u64) -> serde_json::Value {
    generate_month(warehouse, "2024-01", trips, seed)
}

/// [`generate_trips`] for `month` (`YYYY-MM`), in its own month directory, as TLC publishes a month.
pub fn generate_month(warehouse: &Path, month: &str, trips: usize, seed: u64) -> serde_json::Value {
    let dir = warehouse.join(format!("raw/yellow/month={month}-01"));
    let out = Command::new(python())
        .arg(repo_root().join("dev/generate_trips.py"))
        .arg(dir.join(format!("yellow_tripdata_{month}.parquet")))
        .args([
            "--month",
            month,
            "--trips",
            &trips.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(["--defect-rate", "0.02"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run(job: &str, warehouse: &Path) -> std::process::Output {
    let mut args = vec![
        "--log-format",
        "json",
        "run",
        job,
        "--no-progress",
        "--warehouse",
        warehouse.to_str().unwrap(),
    ];
    for p in TRIP_PARAMS {
        args.extend(["--param", p]);
    }
    strata(&args)
}

/// The (pickup µs, pickup zone, dropoff zone) keys of a Delta table's rows, read by the independent reader.
fn keys(table_dir: &Path) -> Vec<(i64, i64, i64, String)> {
    let script = r#"
import json, os, sys, deltalake
t = deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table()
rows = zip(t.column("pickup_at").cast("int64").to_pylist(), t.column("pickup_zone").to_pylist(),
           t.column("dropoff_zone").to_pylist(), t.column("_expectations").to_pylist())
print(json.dumps(sorted(rows)), flush=True)
os._exit(0)
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(table_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The taxi job, writing its PostgreSQL table to database `db` (tests run concurrently), with `edit` applied.
fn taxi_job(dir: &Path, db: &str, edit: impl Fn(String) -> String) -> String {
    crate::postgres::fresh_database(db);
    let text = std::fs::read_to_string(repo_root().join("jobs/taxi_trips/curate.sql")).unwrap();
    let text = edit(text.replace("postgres:///chillflow", &format!("postgres:///{db}")));
    let job = dir.join("curate.sql");
    std::fs::write(&job, text).unwrap();
    job.display().to_string()
}

#[test]
fn expectations_count_exactly_the_injected_defects_and_quarantine_exactly_those_trips() {
    let dir = tempfile::tempdir().unwrap();
    let job = taxi_job(dir.path(), "strata_expect", |t| t);
    let wh = dir.path().join("wh");
    let generated = generate_trips(&wh, 5000, 21);
    let defects = &generated["defects"];
    let injected = |kind: &str| defects[kind].as_u64().unwrap();
    assert!(
        ["time_travel", "outside_month", "too_fast", "negative_fare", "no_zone"]
            .iter()
            .all(|k| injected(k) > 0)
    );

    let out = run(&job, &wh);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim().lines().last().unwrap()).unwrap();
    let counted = |rule: &str| {
        summary["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["rule"] == rule)
            .unwrap_or_else(|| panic!("no rule {rule} in {summary}"))["violations"]
            .as_u64()
            .unwrap()
    };
    let rules = [
        ("dropoff_after_pickup", "time_travel"),
        ("pickup_in_month", "outside_month"),
        ("plausible_speed", "too_fast"),
        ("non_negative_amounts", "negative_fare"),
        ("known_zones", "no_zone"),
    ];
    for (rule, kind) in rules {
        assert_eq!(counted(rule), injected(kind), "{rule} vs injected {kind}");
    }
    assert_eq!(counted("has_vendor"), 0);
    assert_eq!(counted("has_passengers"), 0);

    // The quarantine holds exactly the defective trips of the quarantining rules, each with its rule.
    let mut expected: Vec<(i64, i64, i64, String)> = rules[..4]
        .iter()
        .flat_map(|(rule, kind)| defect_keys(&generated, kind, rule))
        .collect();
    expected.sort();
    let quarantined = keys(&wh.join("silver/trips_quarantine"));
    assert_eq!(quarantined, expected);
    let run_ids = table(&wh, "silver.trips_quarantine", &["_run_id"]);
    assert_eq!(run_ids["columns"]["_run_id"]["distinct"], 1);
    assert_eq!(run_ids["columns"]["_run_id"]["values"][0], summary["run_id"]);

    // The curated table keeps everything else.
    let total: u64 = rules.iter().map(|(_, k)| injected(k)).sum();
    assert_eq!(table(&wh, "silver.trips", &[])["rows"], 5000 - total);
}

#[test]
fn a_failing_expectation_stops_the_run_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let generated = generate_trips(&wh, 2000, 5);
    let negative = generated["defects"]["negative_fare"].as_u64().unwrap();
    assert!(negative > 0);
    let job = taxi_job(dir.path(), "strata_expect_fail", |t| {
        let strict = t.replace(
            "EXPECT (fare >= 0 AND total >= 0) ON VIOLATION QUARANTINE",
            "EXPECT (fare >= 0 AND total >= 0) ON VIOLATION FAIL",
        );
        assert_ne!(strict, t);
        strict
    });
    let text = std::fs::read_to_string(&job).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("ON VIOLATION FAIL") && l.contains("fare"))
        .unwrap()
        + 1;

    let out = run(&job, &wh);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "curate.sql:{line}:3: expectation 'non_negative_amounts' on 'silver.trips' failed for {negative} rows"
        )),
        "{err}"
    );
    for t in ["silver/trips", "silver/trips_quarantine", "gold/zone_hourly_kpis"] {
        assert!(!wh.join(t).exists(), "{t} was written by a failed run");
    }
    let pg = crate::postgres::Pg::connect("strata_expect_fail");
    assert_eq!(
        pg.one("SELECT count(*) FROM pg_tables WHERE tablename = 'zone_hourly_kpis'"),
        "0"
    );
    let runs = strata(&["--log-format", "json", "runs", "--warehouse", wh.to_str().unwrap()]);
    let last: serde_json::Value = serde_json::from_str(stdout(&runs).lines().next().unwrap()).unwrap();
    assert_eq!(last["state"], "failed");
    assert_eq!(last["failed_stage"], "expectation non_negative_amounts of silver.trips");
}

/// Expectations on a view (checked once, its readers see the rows that pass) and on an insert into a warehouse table.
const VIEW_AND_INSERT_JOB: &str = r#"
CREATE EXTERNAL TABLE raw_trips STORED AS PARQUET LOCATION 'raw/yellow';

CREATE VIEW checked_trips (
  CONSTRAINT dropoff_after_pickup EXPECT (dropoff_at > pickup_at) ON VIOLATION QUARANTINE,
  CONSTRAINT non_negative_amounts EXPECT (fare >= 0 AND total >= 0) ON VIOLATION DROP ROW,
  CONSTRAINT has_vendor EXPECT (vendor_id IS NOT NULL)
) AS
SELECT "VendorID" AS vendor_id, tpep_pickup_datetime AS pickup_at, tpep_dropoff_datetime AS dropoff_at,
       "PULocationID" AS pickup_zone, "DOLocationID" AS dropoff_zone, fare_amount AS fare, total_amount AS total
FROM raw_trips;

CREATE TABLE silver.clean AS SELECT * FROM checked_trips;

INSERT INTO archive.trips (
  CONSTRAINT known_zones EXPECT (pickup_zone BETWEEN 1 AND 263 AND dropoff_zone BETWEEN 1 AND 263)
    ON VIOLATION QUARANTINE
)
SELECT * FROM checked_trips;
"#;

fn defect_keys(generated: &serde_json::Value, kind: &str, rule: &str) -> Vec<(i64, i64, i64, String)> {
    let mut keys: Vec<_> = generated["defect_keys"][kind]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k[0].as_i64().unwrap(),
                k[1].as_i64().unwrap(),
                k[2].as_i64().unwrap(),
                rule.to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

#[test]
fn views_and_inserts_check_their_rows_in_every_mode() {
    for engine in ["embedded", "standalone"] {
        let dir = tempfile::tempdir().unwrap();
        let wh = dir.path().join("wh");
        let generated = generate_trips(&wh, 3000, 8);
        let injected = |kind: &str| generated["defects"][kind].as_u64().unwrap();
        let job = dir.path().join("checks.sql");
        std::fs::write(&job, VIEW_AND_INSERT_JOB).unwrap();
        let mut args = vec!["--log-format", "json", "run", job.to_str().unwrap(), "--no-progress"];
        args.extend(["--warehouse", wh.to_str().unwrap()]);
        if engine == "standalone" {
            args.push("--standalone");
        }
        let out = strata(&args);
        assert!(out.status.success(), "{engine}: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim().lines().last().unwrap()).unwrap();
        let counted = |table: &str, rule: &str| {
            summary["expectations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["table"] == table && e["rule"] == rule)
                .unwrap_or_else(|| panic!("{engine}: no rule {rule} on {table} in {summary}"))["violations"]
                .as_u64()
                .unwrap()
        };
        // The view is checked once, however many stages read it.
        assert_eq!(
            counted("checked_trips", "dropoff_after_pickup"),
            injected("time_travel")
        );
        assert_eq!(
            counted("checked_trips", "non_negative_amounts"),
            injected("negative_fare")
        );
        assert_eq!(counted("checked_trips", "has_vendor"), 0);
        assert_eq!(counted("archive.trips", "known_zones"), injected("no_zone"));
        let checks = summary["expectations"].as_array().unwrap().len();
        assert_eq!(checks, 4, "{engine}: {summary}");

        assert_eq!(
            keys(&wh.join("checked_trips_quarantine")),
            defect_keys(&generated, "time_travel", "dropoff_after_pickup"),
            "{engine}"
        );
        assert_eq!(
            keys(&wh.join("archive/trips_quarantine")),
            defect_keys(&generated, "no_zone", "known_zones"),
            "{engine}"
        );
        let passed = 3000 - injected("time_travel") - injected("negative_fare");
        assert_eq!(table(&wh, "silver.clean", &[])["rows"], passed, "{engine}");
        assert_eq!(
            table(&wh, "archive.trips", &[])["rows"],
            passed - injected("no_zone"),
            "{engine}"
        );
    }
}

#[test]
fn a_failing_view_expectation_stops_the_run_and_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let generated = generate_trips(&wh, 1000, 3);
    let negative = generated["defects"]["negative_fare"].as_u64().unwrap();
    assert!(negative > 0);
    let job = dir.path().join("checks.sql");
    let strict = VIEW_AND_INSERT_JOB.replace(
        "(fare >= 0 AND total >= 0) ON VIOLATION DROP ROW",
        "(fare >= 0 AND total >= 0) ON VIOLATION FAIL",
    );
    assert_ne!(strict, VIEW_AND_INSERT_JOB);
    std::fs::write(&job, strict).unwrap();
    let out = strata(&[
        "run",
        job.to_str().unwrap(),
        "--no-progress",
        "--warehouse",
        wh.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "checks.sql:6:3: expectation 'non_negative_amounts' on 'checked_trips' failed for {negative} rows"
        )),
        "{err}"
    );
    for t in [
        "silver/clean",
        "archive/trips",
        "checked_trips_quarantine",
        "archive/trips_quarantine",
    ] {
        assert!(!wh.join(t).exists(), "{t} was written by a failed run");
    }
}

/// A table with both an event time and expectations: incremental runs check only the rows they compute, keep the
/// rest as committed, and end with the table, its quarantine and a downstream aggregate of a full refresh.
#[test]
fn incremental_runs_check_only_new_rows_and_equal_a_full_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src/bronze/readings");
    let script = r#"
import datetime as dt, os, sys, pyarrow as pa, deltalake
rows = {"symbol": [], "ts": [], "value": []}
negative = 0
start = dt.datetime(2024, 1, 1)
for h in range(20 * 24):
    for i, s in enumerate(["AAA", "BBB", "CCC"]):
        n = h * 3 + i
        value = float(n % 97) - (150.0 if n % 41 == 0 else 0.0)
        negative += value < 0
        rows["symbol"].append(None if n % 53 == 0 else s)
        rows["ts"].append(start + dt.timedelta(hours=h))
        rows["value"].append(value)
table = pa.table({"symbol": pa.array(rows["symbol"], pa.string()), "ts": pa.array(rows["ts"], pa.timestamp("us")),
                  "value": pa.array(rows["value"], pa.float64())})
deltalake.write_deltalake(sys.argv[1], table)
print(negative, flush=True)
os._exit(0)
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&source)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let job = dir.path().join("readings.sql");
    std::fs::write(
        &job,
        "CREATE EXTERNAL TABLE bronze.readings STORED AS DELTA LOCATION 'bronze/readings' OPTIONS ('event_time' 'ts');\n\
         CREATE TABLE silver.readings (\n\
           CONSTRAINT non_negative EXPECT (value >= 0) ON VIOLATION QUARANTINE,\n\
           CONSTRAINT has_symbol EXPECT (symbol IS NOT NULL) ON VIOLATION DROP ROW\n\
         ) EVENT TIME (ts) AS\n\
         SELECT symbol, ts, value, value * 2 AS doubled FROM bronze.readings;\n\
         CREATE TABLE gold.daily AS\n\
         SELECT symbol, date_trunc('day', ts) AS day, count(*) AS n, sum(value) AS total FROM silver.readings GROUP BY 1, 2;\n",
    )
    .unwrap();
    let append = |warehouse: &Path, first: &str, last: &str| {
        let out = Command::new(python())
            .arg(repo_root().join("dev/append_days.py"))
            .arg(&source)
            .arg(warehouse.join("bronze/readings"))
            .args([first, last])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let run = |warehouse: &Path, extra: &[&str]| {
        let mut args = vec![
            "--log-format",
            "json",
            "run",
            job.to_str().unwrap(),
            "--no-progress",
            "--warehouse",
        ];
        args.push(warehouse.to_str().unwrap());
        args.extend(extra);
        let out = strata(&args);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim().lines().last().unwrap()).unwrap();
        summary
    };
    let violations = |summary: &serde_json::Value, rule: &str| {
        summary["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["rule"] == rule)
            .map(|e| e["violations"].as_u64().unwrap())
            .unwrap()
    };

    let full = dir.path().join("full");
    append(&full, "2024-01-01", "2024-01-20");
    let whole = run(&full, &["--full-refresh"]);
    let quarantined = |warehouse: &Path| {
        // os._exit: the deltalake package can crash while the interpreter shuts down.
        let script = "import deltalake, json, os, sys\n\
t = deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table()\n\
print(json.dumps(sorted(zip(t.column('symbol').to_pylist(), t.column('ts').cast('int64').to_pylist(), t.column('value').to_pylist()), key=str)), flush=True)\n\
os._exit(0)";
        let out = Command::new(python())
            .arg("-c")
            .arg(script)
            .arg(warehouse.join("silver/readings_quarantine"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let expected = quarantined(&full);
    assert!(expected.len() > 10);
    let negative: u64 = stdout(&out).trim().parse().unwrap();
    assert_eq!(violations(&whole, "non_negative"), negative);
    let same_as_full = |inc: &Path, what: &str| {
        let out = Command::new(python())
            .arg(repo_root().join("dev/compare_delta.py"))
            .args([&full, inc])
            .args(["silver.readings", "gold.daily"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: differs from a full refresh:\n{}{}",
            stdout(&out),
            stderr(&out)
        );
    };
    for (mode, extra) in [("embedded", &[][..]), ("standalone", &["--standalone"][..])] {
        let inc = dir.path().join(mode);
        append(&inc, "2024-01-01", "2024-01-10");
        let first = run(&inc, extra);
        append(&inc, "2024-01-11", "2024-01-20");
        let second = run(&inc, extra);
        let output_mode = second["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["table"] == "silver.readings")
            .map(|o| o["mode"].clone());
        assert_eq!(output_mode, Some("replace range".into()), "{mode}: {second}");
        // Each row is checked once: the increments' counts add up to the full refresh's.
        for rule in ["non_negative", "has_symbol"] {
            assert!(violations(&second, rule) > 0, "{mode} {rule}: {second}");
            assert_eq!(
                violations(&first, rule) + violations(&second, rule),
                violations(&whole, rule),
                "{mode} {rule}"
            );
        }
        same_as_full(&inc, mode);
        // The quarantine holds the same rows (each once), whichever run quarantined them.
        assert_eq!(quarantined(&inc), expected, "{mode}");
        // A backfill re-checks its range: it counts the range's violations again but quarantines no row twice.
        let mut args = vec!["--backfill", "2024-01-05", "2024-01-06"];
        args.extend(extra);
        let backfill = run(&inc, &args);
        assert!(violations(&backfill, "non_negative") > 0, "{mode}: {backfill}");
        assert_eq!(quarantined(&inc), expected, "{mode}: after a backfill");
        same_as_full(&inc, &format!("{mode}, after a backfill"));
    }
    // A full refresh again quarantines nothing new either.
    run(&full, &["--full-refresh"]);
    assert_eq!(quarantined(&full), expected);
}
