//! End-to-end tests of the `strata` binary: generate data, run the stock pipeline, read the output with an
//! independent Delta reader (the `deltalake` Python package), and check the CLI's error reporting.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod budget;
mod cases;
mod chaos;
mod clouds;
mod cluster;
mod console;
mod defaults;
mod errors;
mod exactly_once;
mod expectations;
mod flight;
mod incremental;
mod kafka;
mod kafka_security;
mod kube;
mod ledger;
mod lifecycle;
mod locations;
mod merge;
mod metrics;
mod pipeline;
mod postgres;
mod schedule;
mod secrets;
mod seed_taxi;
mod seed_values;
mod seeds;
mod storage;
mod submissions;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Run `strata` with `args` from the repository root.
pub fn strata(args: &[&str]) -> Output {
    strata_env(args, &[])
}

/// [`strata`] with `env` added to (or overriding) the test's environment.
pub fn strata_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo_root())
        .env_remove("STRATA_WAREHOUSE")
        .env_remove("STRATA_LEDGER")
        // Jobs that name no broker (`kafka:///topic`) use the test broker.
        .env(
            "STRATA_KAFKA_BROKERS",
            std::env::var("STRATA_KAFKA").unwrap_or_default(),
        )
        .output()
        .expect("strata runs")
}

/// Run the stock pipeline embedded on `warehouse`: the tables cluster runs are compared with.
pub fn run_stock_embedded(warehouse: &Path) {
    let out = strata(&[
        "run",
        "jobs/stock_market/pipeline.sql",
        "--no-progress",
        "--warehouse",
        warehouse.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "embedded run: {}", stderr(&out));
}

/// A run's status, from the (insecure) scheduler at `scheduler`.
pub fn run_status(scheduler: &str, run_id: &str) -> serde_json::Value {
    let out = strata(&["--log-format", "json", "status", run_id, "--scheduler", scheduler]);
    assert!(out.status.success(), "status: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

/// Poll the scheduler until the run ends; returns its final status.
pub fn wait_run(scheduler: &str, run_id: &str, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let status = run_status(scheduler, run_id);
        if status["state"] == "succeeded" || status["state"] == "failed" {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} still {} after {limit:?}",
            status["state"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The seed of a randomized test: `STRATA_TEST_SEED` to replay one, else the clock. Printed, so a failure can be
/// replayed.
pub fn test_seed() -> u64 {
    let seed = std::env::var("STRATA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("STRATA_TEST_SEED={seed}");
    seed
}

/// The Python interpreter that has the `deltalake` package (set up by `dev/test.sh`).
pub fn python() -> String {
    std::env::var("STRATA_PYTHON").unwrap_or_else(|_| {
        panic!("STRATA_PYTHON is not set: run the suite with dev/test.sh, which installs the deltalake reader")
    })
}
