//! A new user's first minutes: after `dev/quickstart.sh` (a run on the default warehouse), `strata runs` and
//! `strata status` read that warehouse's ledger without being told where it is, and `explain` / `validate` plan
//! with the mode and engine they are given, as `run` would.

use std::path::Path;
use std::process::{Command, Output};

use crate::{repo_root, stderr, stdout, strata};

const JOB: &str = "jobs/stock_market/pipeline.sql";

/// `strata` in `dir`, with no place or scheduler named by the environment except `env`.
fn strata_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("STRATA_WAREHOUSE")
        .env_remove("STRATA_LEDGER")
        .env_remove("STRATA_SCHEDULER")
        .env_remove("STRATA_KAFKA_BROKERS");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn generate(warehouse: &Path) {
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "2", "--start", "2023-01-01", "--end", "2023-06-30", "--seed", "3",
        "--out", warehouse.join("bronze/market_daily").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn runs_and_status_read_the_default_warehouse_when_no_scheduler_is_named() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("warehouse"));
    let job = repo_root().join(JOB);
    let job = job.to_str().unwrap();

    // As dev/quickstart.sh does: a run on ./warehouse.
    let out = strata_in(dir.path(), &["--log-format", "json", "run", job, "--no-progress"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let run_id = summary["run_id"].as_str().unwrap();

    let runs = json_lines(&strata_in(dir.path(), &["--log-format", "json", "runs"], &[]));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["run_id"], run_id);
    assert_eq!(runs[0]["state"], "succeeded");
    let out = strata_in(dir.path(), &["runs"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains(run_id), "{}", stdout(&out));

    let out = strata_in(dir.path(), &["status", run_id], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("run {run_id}  succeeded")), "{text}");
    assert!(text.contains("committed gold.daily_indicators version 0"), "{text}");

    // STRATA_WAREHOUSE names the default warehouse, from anywhere.
    let warehouse = dir.path().join("warehouse");
    let warehouse = warehouse.to_str().unwrap();
    let root = repo_root();
    let runs = json_lines(&strata_in(
        &root,
        &["--log-format", "json", "runs"],
        &[("STRATA_WAREHOUSE", warehouse)],
    ));
    assert_eq!(runs.len(), 1, "{runs:?}");

    // A scheduler named by flag or environment is asked ...
    let out = strata_in(dir.path(), &["runs", "--scheduler", "127.0.0.1:1"], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot reach the Strata scheduler at 127.0.0.1:1"),
        "{}",
        stderr(&out)
    );
    let out = strata_in(dir.path(), &["status", run_id], &[("STRATA_SCHEDULER", "127.0.0.1:1")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
    // ... unless a warehouse is named on the command line: its ledger is read.
    let runs = json_lines(&strata_in(
        &root,
        &["--log-format", "json", "runs", "--warehouse", warehouse],
        &[("STRATA_SCHEDULER", "127.0.0.1:1")],
    ));
    assert_eq!(runs.len(), 1, "{runs:?}");

    // A place the command has no use for is refused, not ignored.
    let out = strata_in(dir.path(), &["runs", "--kafka-brokers", "k:9092"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--kafka-brokers"), "{}", stderr(&out));
}

/// The rows after `== what the run rewrites` naming `table`.
fn range_line(explain: &str, table: &str) -> String {
    let (_, ranges) = explain
        .split_once("== what the run rewrites")
        .unwrap_or_else(|| panic!("no ranges in:\n{explain}"));
    ranges
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{table} ")))
        .unwrap_or_else(|| panic!("no {table} in:\n{ranges}"))
        .to_string()
}

#[test]
fn explain_and_validate_plan_with_the_mode_and_engine_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    generate(&wh);
    let wh = wh.to_str().unwrap();
    let out = strata(&["run", JOB, "--no-progress", "--warehouse", wh]);
    assert!(out.status.success(), "{}", stderr(&out));
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", JOB, "--warehouse", wh];
        args.extend_from_slice(extra);
        let out = strata(&args);
        assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
        stdout(&out)
    };

    // Nothing new since the run: an incremental run reads again only the source's lateness window (3 days below
    // its watermark), for bars that arrive late.
    let text = explain(&[]);
    assert!(text.contains("== what the run rewrites (incremental)"), "{text}");
    assert!(range_line(&text, "silver.daily_bars").contains("rewritten"), "{text}");
    // A backfill rewrites its range; a full refresh rewrites everything.
    let text = explain(&["--backfill", "2023-03-01", "2023-03-31"]);
    assert!(text.contains("== what the run rewrites (backfill 2023-03-01"), "{text}");
    let weekly = range_line(&text, "silver.weekly_bars");
    assert!(weekly.contains("rewritten") && weekly.contains("2023-0"), "{weekly}");
    let text = explain(&["--full-refresh"]);
    assert!(
        range_line(&text, "silver.weekly_bars").contains("whole (full refresh)"),
        "{text}"
    );
    // Explaining ran and recorded nothing: one run in the ledger, one commit per table.
    let out = strata(&["--log-format", "json", "runs", "--warehouse", wh]);
    assert_eq!(json_lines(&out).len(), 1);
    let log = Path::new(wh).join("silver/weekly_bars/_delta_log");
    let commits = std::fs::read_dir(log)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(commits, 1);

    // validate parses the mode and plans on the engine given.
    let validate = |extra: &[&str]| {
        let mut args = vec!["validate", JOB, "--warehouse", wh];
        args.extend_from_slice(extra);
        strata(&args)
    };
    let out = validate(&["--full-refresh"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = validate(&["--backfill", "2023-03-31", "2023-03-01"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the backfill ends before it starts"),
        "{}",
        stderr(&out)
    );
    let out = validate(&["--cluster", "127.0.0.1:1"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
}
