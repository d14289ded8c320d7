//! The web console in a real browser: a scheduler with a users file serves it on `--http-bind`; after a
//! submitted run and a failed one, Debian's Chromium driven by Playwright (`dev/console_test.mjs`) logs in (a
//! wrong password first, which shows nothing), lists the runs, filters them, opens the run's DAG, timeline and
//! history, opens the failed run and finds its `file:line`, and logs out; screenshots are saved. Without a login
//! the API answers 401 and neither it nor `/metrics` shows a run id, an error or a secret.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cases::generate_market;
use crate::flight::users;
use crate::lifecycle::{Daemon, http_get, wait_for};
use crate::metrics::failing_job;
use crate::{repo_root, stderr, stdout};

const ALICE: &[(&str, &str)] = &[
    ("STRATA_FLIGHT_USER", "alice"),
    ("STRATA_FLIGHT_PASSWORD", "wonder land"),
];
const SECRET: &str = "zz-console-secret-0815";

fn submit(scheduler: &str, job: &Path, warehouse: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args([
            "--log-format",
            "json",
            "submit",
            job.to_str().unwrap(),
            "--scheduler",
            scheduler,
        ])
        .args(["--warehouse", warehouse.to_str().unwrap()])
        .current_dir(repo_root())
        .envs(ALICE.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "submit: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

fn status(scheduler: &str, run: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["--log-format", "json", "status", run, "--scheduler", scheduler])
            .current_dir(repo_root())
            .envs(ALICE.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "status: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        if v["state"] == "succeeded" || v["state"] == "failed" || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Where the screenshots go: `STRATA_SCREENSHOTS`, or a directory under the build's target dir.
fn screenshots() -> PathBuf {
    let dir = std::env::var("STRATA_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
            PathBuf::from(target).join("console-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_console_shows_runs_their_dag_and_errors_to_a_logged_in_user_in_chromium_and_nothing_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let users = users(dir.path());
    let wh = dir.path().join("wh");
    generate_market(&wh, 3, 11);
    #[rustfmt::skip]
    let sched = Daemon::start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", wh.to_str().unwrap(),
        "--users", users.to_str().unwrap(), "--http-bind", "127.0.0.1:0", "--executor-timeout", "3",
    ], &[("AWS_SECRET_ACCESS_KEY", SECRET)], &["Scheduler", "HTTP probes"]);
    let scheduler = sched.addr("Scheduler").to_string();
    let http = sched.addr("HTTP probes").to_string();
    #[rustfmt::skip]
    let exec = Daemon::start(&[
        "--log", "info", "executor", "--scheduler", &scheduler, "--vcores", "2", "--http-bind", "127.0.0.1:0",
        "--work-dir", dir.path().join("work").to_str().unwrap(),
    ], &[], &["HTTP probes"]);
    wait_for(exec.addr("HTTP probes"), "/readyz", 200, Duration::from_secs(30));

    let ok = submit(&scheduler, &repo_root().join("jobs/stock_market/pipeline.sql"), &wh);
    assert_eq!(status(&scheduler, &ok)["state"], "succeeded");
    let failing = failing_job(dir.path(), SECRET);
    let bad = submit(&scheduler, &failing, &wh);
    assert_eq!(status(&scheduler, &bad)["state"], "failed");

    // Not logged in: the page loads (it holds no data), the API refuses, /metrics shows no run and no secret.
    let (code, page) = http_get(&http, "/").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("<script") && !page.contains(&ok));
    for path in ["/api/runs", &format!("/api/runs/{ok}"), "/api/executors", "/api/tables"] {
        let (code, body) = http_get(&http, path).unwrap();
        assert_eq!(code, 401, "{path}: {body}");
        assert!(
            !body.contains(&ok) && !body.contains(&bad) && !body.contains(SECRET),
            "{path}: {body}"
        );
    }
    let (code, metrics) = http_get(&http, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(!metrics.contains(&ok) && !metrics.contains(SECRET) && !metrics.contains("Cast error"));

    // The browser.
    let password = dir.path().join("alice-password");
    std::fs::write(&password, "wonder land").unwrap();
    let shots = screenshots();
    let chromium = std::env::var("STRATA_CHROMIUM")
        .unwrap_or_else(|_| panic!("STRATA_CHROMIUM is not set: run the suite with dev/test.sh (dev/console.sh)"));
    let playwright = std::env::var("STRATA_PLAYWRIGHT")
        .unwrap_or_else(|_| panic!("STRATA_PLAYWRIGHT is not set: run the suite with dev/test.sh (dev/console.sh)"));
    #[rustfmt::skip]
    let out = Command::new("node")
        .arg(repo_root().join("dev/console_test.mjs"))
        .args([
            "--url", &format!("http://{http}"), "--user", "alice", "--password-file", password.to_str().unwrap(),
            "--ok-run", &ok, "--failed-run", &bad, "--expect-location", "failing.sql:2",
            "--screenshots", shots.to_str().unwrap(),
            "--chart-table", "gold.daily_indicators", "--chart-symbol", "AAAA", "--expect-tasks",
        ])
        .env("STRATA_CHROMIUM", chromium)
        .env("STRATA_PLAYWRIGHT", playwright)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "console in Chromium:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_str(stdout(&out).lines().last().unwrap_or("{}")).unwrap();
    assert_eq!(report["ok"], true, "{}", stdout(&out));
    let saved = report["screenshots"].as_array().unwrap();
    assert!(saved.len() >= 6, "{saved:?}");
    for shot in saved {
        let path = PathBuf::from(shot.as_str().unwrap());
        assert!(
            std::fs::metadata(&path).is_ok_and(|m| m.len() > 1000),
            "{}",
            path.display()
        );
    }
    drop(exec);
}
