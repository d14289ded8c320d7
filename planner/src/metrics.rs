//! The Prometheus exporter every Strata process installs (`strata` calls [`install`] at start), and what a run
//! records. Families and their conventions are cataloged in `strata_connectors::metrics`; the probe server serves
//! [`render`] at `/metrics`, and one-shot runs push it to a Pushgateway or write it as a node-exporter textfile.
//!
//! A run records where it runs: embedded runs in the `strata` process, cluster runs in the scheduler (which
//! plans and commits them), executors their tasks. Nothing is recorded per run id: runs are counted by job file.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use strata_connectors::metrics::{self as names, DURATION_BUCKETS};

use crate::error::{PlannerError, Result};
use crate::report::{OutputReport, RunSummary};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the Prometheus recorder for this process (once; later calls return the same handle). `None` when
/// another recorder is installed already.
pub fn install() -> Option<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Some(handle);
    }
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
        .inspect_err(|e| tracing::warn!(error = %e, "metrics: bad histogram buckets"))
        .ok()?;
    match builder.install_recorder() {
        Ok(handle) => {
            let handle = HANDLE.get_or_init(|| handle);
            names::describe();
            gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            Some(handle)
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics: a recorder is installed already");
            None
        }
    }
}

/// Every family recorded so far, in the Prometheus text format; `None` without an installed recorder.
pub fn render() -> Option<String> {
    HANDLE.get().map(|handle| {
        handle.run_upkeep();
        handle.render()
    })
}

/// A run of `job` started.
pub fn run_started(job: &str) {
    counter!(names::RUNS_STARTED, "strata_job" => job.to_string()).increment(1);
}

/// A run of `job` ended after `elapsed`: its outcome, and on success what its summary says.
pub fn run_finished(job: &str, result: &Result<RunSummary>, elapsed: Duration) {
    let outcome = if result.is_ok() { "succeeded" } else { "failed" };
    let job = job.to_string();
    counter!(names::RUNS_FINISHED, "strata_job" => job.clone(), "outcome" => outcome).increment(1);
    histogram!(names::RUN_DURATION, "strata_job" => job.clone(), "outcome" => outcome).record(elapsed.as_secs_f64());
    let Ok(summary) = result else {
        if let Err(PlannerError::Expectation {
            table,
            rule,
            violations,
            ..
        }) = result
        {
            // A FAIL rule's violations stop the run before its summary exists; they still count.
            counter!(names::EXPECTATION_VIOLATIONS, "strata_job" => job, "table" => table.clone(), "rule" => rule.clone())
                .increment(*violations);
        }
        return;
    };
    for stage in &summary.stages {
        let labels = [("strata_job", job.clone()), ("stage", stage.stage.clone())];
        histogram!(names::STAGE_DURATION, &labels).record(stage.elapsed_ms as f64 / 1000.0);
        if let Some(rows) = stage.rows_out {
            counter!(names::STAGE_ROWS, &labels).increment(rows);
        }
    }
    for OutputReport {
        table, rows_written, ..
    } in &summary.outputs
    {
        counter!(names::TABLE_ROWS_WRITTEN, "strata_job" => job.clone(), "table" => table.clone())
            .increment(*rows_written);
    }
    for source in &summary.sources {
        let labels = [("strata_job", job.clone()), ("topic", source.topic.clone())];
        counter!(names::KAFKA_MESSAGES_READ, &labels).increment(source.messages);
        counter!(names::KAFKA_DEAD_LETTERS, &labels).increment(source.malformed);
        counter!(names::TABLE_ROWS_READ, "strata_job" => job.clone(), "table" => source.table.clone())
            .increment(source.messages);
        for p in &source.partitions {
            gauge!(names::KAFKA_LAG, "strata_job" => job.clone(), "topic" => source.topic.clone(),
                "partition" => p.partition.to_string())
            .set(p.lag as f64);
        }
    }
    for e in &summary.expectations {
        counter!(names::EXPECTATION_VIOLATIONS, "strata_job" => job.clone(), "table" => e.table.clone(),
            "rule" => e.rule.clone())
        .increment(e.violations);
    }
}

/// What a table's commit writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitKind {
    /// A Delta commit (rows, files, a range's files, or a merge).
    Delta,
    /// One PostgreSQL transaction.
    Postgres,
    /// A produce to a topic (through its outbox or not).
    Kafka,
}

/// One table's commit ended after `elapsed`.
pub fn commit(table: &str, kind: CommitKind, result: &Result<OutputReport>, elapsed: Duration) {
    let table = table.to_string();
    match kind {
        CommitKind::Delta => {
            let outcome = match result {
                Ok(_) => "committed",
                Err(PlannerError::Commit { source, .. }) if source.is_commit_conflict() => "conflict",
                Err(_) => "failed",
            };
            counter!(names::DELTA_COMMITS, "table" => table.clone(), "outcome" => outcome).increment(1);
            histogram!(names::DELTA_COMMIT_DURATION, "table" => table).record(elapsed.as_secs_f64());
        }
        CommitKind::Postgres => match result {
            Ok(report) => counter!(names::POSTGRES_ROWS, "table" => table).increment(report.rows_written),
            Err(_) => counter!(names::POSTGRES_ERRORS, "table" => table).increment(1),
        },
        CommitKind::Kafka => {}
    }
}

/// A scheduled run of `job` succeeded now.
pub fn schedule_succeeded(job: &str) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    gauge!(names::SCHEDULE_LAST_SUCCESS, "strata_job" => job.to_string()).set(now.as_secs_f64());
}

/// A scheduled job runs every `seconds` (for the "no success within its schedule" alert).
pub fn schedule_interval(job: &str, seconds: i64) {
    gauge!(names::SCHEDULE_INTERVAL, "strata_job" => job.to_string()).set(seconds as f64);
}
