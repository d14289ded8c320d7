//! `strata schedule`: jobs run on their declared cron ticks, missed ticks are caught up as one backfill, failures
//! are retried, and a job already running is not started twice. `--now` replays the clock.

use std::path::Path;

use crate::{stderr, stdout, strata};

const GOOD: &str = "--! schedule '0 0 * * *' retries 1 backoff 1s
CREATE EXTERNAL TABLE bronze.market_daily STORED AS DELTA LOCATION 'bronze/market_daily' OPTIONS ('event_time' 'ts');
CREATE TABLE silver.closes EVENT TIME (ts) AS SELECT symbol, ts, close FROM bronze.market_daily WHERE close > 0;
";

const FAILING: &str = "--! schedule '0 0 * * *' retries 2 backoff 1s
CREATE TABLE silver.ratio AS SELECT CAST(x AS BIGINT) / CAST(x - x AS BIGINT) AS y FROM (VALUES (1)) v(x);
";

pub(crate) fn schedule(jobs: &Path, wh: &Path, now: &str) -> std::process::Output {
    strata(&[
        "schedule",
        jobs.to_str().unwrap(),
        "--warehouse",
        wh.to_str().unwrap(),
        "--once",
        "--now",
        now,
    ])
}

pub(crate) fn ledger(wh: &Path) -> Vec<serde_json::Value> {
    let out = strata(&[
        "--log-format",
        "json",
        "runs",
        "--warehouse",
        wh.to_str().unwrap(),
        "--limit",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut runs: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    runs.reverse();
    runs
}

#[test]
fn scheduled_runs_retries_catch_up_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let (jobs, wh) = (dir.path().join("jobs"), dir.path().join("wh"));
    std::fs::create_dir_all(jobs.join("nested")).unwrap();
    std::fs::write(jobs.join("good.sql"), GOOD).unwrap();
    std::fs::write(jobs.join("nested/failing.sql"), FAILING).unwrap();
    std::fs::write(jobs.join("unscheduled.sql"), "CREATE TABLE a.b AS SELECT 1 AS x;").unwrap();
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "2", "--start", "2025-12-01", "--end", "2026-01-10",
        "--out", wh.join("bronze/market_daily").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // First start: nothing is replayed, the next tick is announced.
    let out = schedule(&jobs, &wh, "2026-01-01T12:00:00Z");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("next run 2026-01-02T00:00:00+00:00"),
        "{}",
        stdout(&out)
    );
    assert!(ledger(&wh).is_empty());

    // One tick due: one incremental run of the good job; the failing job is tried 1 + 2 times, then reported.
    let out = schedule(&jobs, &wh, "2026-01-02T00:00:05Z");
    assert!(
        !out.status.success(),
        "a failed scheduled run must make --once exit non-zero"
    );
    assert!(stderr(&out).contains("1 scheduled run(s) failed"), "{}", stderr(&out));
    let runs = ledger(&wh);
    let good: Vec<_> = runs
        .iter()
        .filter(|r| r["job"].as_str().unwrap().ends_with("good.sql"))
        .collect();
    let failing: Vec<_> = runs
        .iter()
        .filter(|r| r["job"].as_str().unwrap().ends_with("failing.sql"))
        .collect();
    assert_eq!(good.len(), 1, "{runs:?}");
    assert_eq!(good[0]["state"], "succeeded");
    assert_eq!(good[0]["mode"], "incremental");
    assert_eq!(failing.len(), 3, "{runs:?}");
    assert!(failing.iter().all(|r| r["state"] == "failed"));

    // The same moment again: nothing is due.
    let out = schedule(&jobs, &wh, "2026-01-02T00:00:30Z");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ledger(&wh).len(), 4);

    // Three ticks missed: one backfill over the missed span.
    std::fs::remove_file(jobs.join("nested/failing.sql")).unwrap();
    let out = schedule(&jobs, &wh, "2026-01-05T00:00:05Z");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let runs = ledger(&wh);
    let last = runs.last().unwrap();
    assert_eq!(last["state"], "succeeded");
    assert_eq!(last["mode"], "backfill 2026-01-02 2026-01-05", "{last}");

    // A run in progress (a live process holds the job's lock): the tick is not started twice.
    let lock = wh.join("_strata/schedule/good.lock");
    std::fs::write(&lock, std::process::id().to_string()).unwrap();
    let out = schedule(&jobs, &wh, "2026-01-06T00:00:05Z");
    assert!(stdout(&out).contains("already in progress"), "{}", stdout(&out));
    assert_eq!(ledger(&wh).len(), runs.len());
    // A lock left by a dead process is taken over.
    std::fs::write(&lock, "4000000").unwrap();
    let out = schedule(&jobs, &wh, "2026-01-07T00:00:05Z");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ledger(&wh).len(), runs.len() + 1);
    assert!(!lock.exists());

    // A malformed schedule names its file and line.
    std::fs::write(
        jobs.join("bad.sql"),
        "-- a job\n--! schedule '0 0 * *'\nCREATE TABLE a.c AS SELECT 1 AS x;",
    )
    .unwrap();
    let out = schedule(&jobs, &wh, "2026-01-08T00:00:05Z");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bad.sql:2: '0 0 * *' is not a cron expression"),
        "{}",
        stderr(&out)
    );
}
