//! Expectations on `jobs/taxi_trips/curate.sql` over generated trips with injected defects: every rule counts
//! exactly the defects of its kind, the quarantine table holds exactly the quarantined trips, and a `FAIL` rule with
//! violations stops the run with nothing committed.

use std::path::Path;
use std::process::Command;

use crate::cluster::TRIP_PARAMS;
use crate::kafka::table;
use crate::{python, repo_root, stderr, stdout, strata};

/// Write `trips` generated trips into `<warehouse>/raw/yellow`; returns the generator's report (defect counts and
/// the keys of the defective trips).
pub fn generate_trips(warehouse: &Path, trips: usize, seed: u64) -> serde_json::Value {
    let out = Command::new(python())
        .arg(repo_root().join("dev/generate_trips.py"))
        .arg(warehouse.join("raw/yellow/yellow_tripdata_2024-01.parquet"))
        .args([
            "--month",
            "2024-01",
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
        .flat_map(|(rule, kind)| {
            generated["defect_keys"][*kind]
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
                .collect::<Vec<_>>()
        })
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
