//! The run ledger: every run in a warehouse — succeeded, failed, killed — is in `_strata/runs`, and
//! `strata runs` / `strata status --warehouse` read it back.

use std::ffi::OsStr;
use std::process::Command;

use crate::kafka::table;
use crate::{repo_root, stderr, stdout, strata};

/// A full refresh of `job` (an incremental run after an unchanged input would commit nothing).
fn run_in(warehouse: impl AsRef<OsStr>, job: &str, failpoint: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args([
            "run",
            job,
            "--no-progress",
            "--full-refresh",
            "--warehouse",
            warehouse.as_ref().to_str().unwrap(),
        ])
        .current_dir(repo_root())
        .env_remove("STRATA_WAREHOUSE");
    if let Some(point) = failpoint {
        command.env("STRATA_FAILPOINT", point);
    }
    command.output().unwrap()
}

fn ledger_runs(warehouse: &str) -> Vec<serde_json::Value> {
    let out = strata(&["--log-format", "json", "runs", "--warehouse", warehouse, "--limit", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn every_run_is_in_the_ledger_succeeded_failed_or_killed() {
    ledger_of_every_run(false);
}

#[test]
fn on_s3_every_run_is_in_the_ledger_succeeded_failed_or_killed() {
    ledger_of_every_run(true);
}

/// Succeeded, failed and killed runs in the ledger of a local or an `s3://` warehouse, read back by `runs`,
/// `status` and an independent Delta reader; the killed run committed nothing.
fn ledger_of_every_run(on_s3: bool) {
    let dir = tempfile::tempdir().unwrap();
    let wh = if on_s3 {
        crate::storage::S3::get().fresh("ledger")
    } else {
        dir.path().join("wh").display().to_string()
    };
    let market = format!("{wh}/bronze/market_daily");
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "3", "--start", "2023-01-01", "--end", "2023-12-31", "--seed", "5",
        "--out", &market,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pipeline = "jobs/stock_market/pipeline.sql";
    let failing = dir.path().join("failing.sql");
    std::fs::write(
        &failing,
        "CREATE TABLE silver.ratio AS\nSELECT CAST(x AS BIGINT) / CAST(x - x AS BIGINT) AS y FROM (VALUES (1), (2)) v(x);",
    )
    .unwrap();

    let first = run_in(&wh, pipeline, None);
    assert!(first.status.success(), "{}", stderr(&first));
    let out = run_in(&wh, failing.to_str().unwrap(), None);
    assert!(!out.status.success());
    let out = run_in(&wh, pipeline, Some("before-commit"));
    assert!(!out.status.success(), "the failpoint must abort the run");
    let last = run_in(&wh, pipeline, None);
    assert!(last.status.success(), "{}", stderr(&last));

    // Newest first.
    let runs = ledger_runs(&wh);
    let states: Vec<&str> = runs.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["succeeded", "killed", "failed", "succeeded"], "{runs:?}");
    assert!(runs.iter().all(|r| r["engine"] == "embedded"));
    assert!(runs[3]["job"].as_str().unwrap().ends_with("pipeline.sql"));
    let outputs = runs[0]["summary"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 11, "{:?}", runs[0]);
    // The killed run committed nothing: the last run wrote version 1 of every table (the first wrote 0).
    assert!(outputs.iter().all(|o| o["version"] == 1), "{outputs:?}");

    let human = strata(&["runs", "--warehouse", &wh]);
    let text = stdout(&human);
    assert_eq!(text.lines().count(), 5, "{text}");
    assert!(text.lines().nth(2).unwrap().contains("killed"), "{text}");

    let failed = runs[2]["run_id"].as_str().unwrap();
    let out = strata(&["status", failed, "--warehouse", &wh]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(text.contains("failed in: silver.ratio"), "{text}");
    assert!(text.contains("Divide by zero"), "{text}");
    assert!(text.contains("failing.sql:1:1"), "{text}");
    let out = strata(&["status", runs[0]["run_id"].as_str().unwrap(), "--warehouse", &wh]);
    assert!(
        stdout(&out).contains("committed gold.daily_indicators version 1"),
        "{}",
        stdout(&out)
    );
    let out = strata(&["status", "no-such-run", "--warehouse", &wh]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no run no-such-run"), "{}", stderr(&out));

    // After the killed run, the re-run's tables are those of an uninterrupted run on the same input.
    let clean = dir.path().join("clean");
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "3", "--start", "2023-01-01", "--end", "2023-12-31", "--seed", "5",
        "--out", clean.join("bronze/market_daily").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(run_in(&clean, pipeline, None).status.success());
    let tables = [
        "silver.daily_bars",
        "silver.weekly_bars",
        "silver.bars_8d",
        "gold.daily_indicators",
    ];
    let compare = Command::new(crate::python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .arg(&wh)
        .arg(&clean)
        .args(tables)
        .output()
        .unwrap();
    assert!(compare.status.success(), "{}{}", stdout(&compare), stderr(&compare));

    // The ledger is a Delta table any reader can open: two events per finished run, one for the killed run.
    let ledger = table(&wh, "_strata.runs", &["event"]);
    assert_eq!(ledger["rows"], 7, "{ledger}");
    let events = ledger["columns"]["event"]["values"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| *e == "started").count(), 4);
    assert_eq!(events.iter().filter(|e| *e == "failed").count(), 1);
}

/// With `--ledger postgres://…?schema=…`, runs are recorded in `<schema>.runs` of that database (nothing in the
/// warehouse), `strata runs` / `strata status --ledger` read them back, and incremental runs take their watermarks
/// from there.
#[test]
fn the_ledger_can_live_in_a_postgres_schema() {
    let db = "strata_ledger_pg";
    crate::postgres::fresh_database(db);
    let ledger = format!("postgres:///{db}?schema=ops");
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let market = wh.join("bronze/market_daily");
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "2", "--start", "2023-01-01", "--end", "2023-06-30", "--seed", "7",
        "--out", market.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let failing = dir.path().join("failing.sql");
    std::fs::write(
        &failing,
        "CREATE TABLE silver.ratio AS\nSELECT CAST(x AS BIGINT) / CAST(x - x AS BIGINT) AS y FROM (VALUES (1), (2)) v(x);",
    )
    .unwrap();
    let run = |job: &str| {
        let out = strata(&[
            "run",
            job,
            "--no-progress",
            "--warehouse",
            wh.to_str().unwrap(),
            "--ledger",
            &ledger,
        ]);
        (out.status.success(), stdout(&out), stderr(&out))
    };
    let (ok, _, err) = run("jobs/stock_market/pipeline.sql");
    assert!(ok, "{err}");
    let (ok, _, _) = run(failing.to_str().unwrap());
    assert!(!ok);
    // The second run of the pipeline finds its watermark in PostgreSQL: it reads only the source's lateness window
    // below it, not the whole history.
    let (ok, out, err) = run("jobs/stock_market/pipeline.sql");
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("silver.daily_bars") && l.contains("rewritten") && !l.contains("beginning")),
        "{out}"
    );
    assert!(!wh.join("_strata/runs").exists(), "the warehouse got a ledger too");

    let pg = crate::postgres::Pg::connect(db);
    assert_eq!(pg.one("SELECT count(*) FROM ops.runs"), "6");
    assert_eq!(pg.one("SELECT count(*) FROM ops.runs WHERE event = 'failed'"), "1");
    let out = strata(&["--log-format", "json", "runs", "--ledger", &ledger, "--limit", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let states: Vec<&str> = runs.iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["succeeded", "failed", "succeeded"]);
    assert_eq!(runs[2]["mode"], "incremental");
    assert!(
        runs[0]["summary"]["watermarks"]["bronze.market_daily"].is_i64(),
        "{}",
        runs[0]
    );
    let failed = runs[1]["run_id"].as_str().unwrap();
    let out = strata(&["status", failed, "--ledger", &ledger]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("silver.ratio") && text.contains("Divide by zero"),
        "{text}"
    );
}
