//! The run ledger: every run of a job is recorded once when it starts and once when it ends (succeeded or failed,
//! with the failing stage and the error, the stages' rows, the output tables' versions and the Kafka offsets read).
//! A run killed in between leaves only its start: readers report it as killed when its process is gone. Both the
//! embedded engine and the scheduler write it.
//!
//! The ledger is a Delta table in the warehouse, `_strata/runs` ([`delta`]), unless `strata.ledger` names a
//! PostgreSQL schema (`postgres://host:port/db?schema=ops`), where it is the table `<schema>.runs` ([`postgres`]):
//! the place operations teams already query.

mod delta;
mod postgres;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;

/// Where the ledger lives in the warehouse when no other place is configured.
pub const LEDGER_TABLE: &str = "_strata.runs";

/// One ledger row.
#[derive(Debug, Clone, Default)]
pub struct LedgerEvent {
    pub run_id: String,
    pub job: String,
    /// `started`, `succeeded` or `failed`.
    pub event: &'static str,
    pub engine: String,
    /// `incremental`, `full-refresh` or `backfill FROM TO`.
    pub mode: String,
    /// Parameters as JSON.
    pub params: String,
    pub error: Option<String>,
    pub failed_stage: Option<String>,
    /// The run summary as JSON (stages, outputs and versions, sources and offsets).
    pub summary: Option<String>,
}

/// A row as stored, with where and when it was written.
#[derive(Debug, Clone)]
struct StoredEvent {
    run_id: String,
    job: String,
    event: String,
    /// Microseconds since the epoch.
    at: i64,
    engine: String,
    params: String,
    host: String,
    pid: i64,
    error: Option<String>,
    failed_stage: Option<String>,
    summary: Option<String>,
    mode: Option<String>,
}

/// Where a job's runs are recorded.
#[derive(Debug, Clone)]
pub enum Ledger {
    /// `<warehouse>/_strata/runs`.
    Delta { warehouse: PathBuf },
    /// `<schema>.runs` in a PostgreSQL database.
    Postgres(postgres::PgLedger),
}

impl Ledger {
    /// The ledger `location` names (`postgres://…?schema=…`), or the warehouse's own when it is empty.
    pub fn open(warehouse: &Path, location: &str) -> Result<Ledger> {
        if location.trim().is_empty() {
            return Ok(Ledger::Delta {
                warehouse: warehouse.to_path_buf(),
            });
        }
        Ok(Ledger::Postgres(postgres::PgLedger::parse(location)?))
    }

    /// Where the ledger is, for messages (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Ledger::Delta { warehouse } => format!("the ledger of {}", warehouse.display()),
            Ledger::Postgres(pg) => format!("the ledger {}", pg.describe()),
        }
    }

    /// Append one event.
    pub async fn record(&self, event: LedgerEvent) -> Result<()> {
        let stored = StoredEvent {
            run_id: event.run_id,
            job: event.job,
            event: event.event.to_string(),
            at: chrono::Utc::now().timestamp_micros(),
            engine: event.engine,
            params: event.params,
            host: host(),
            pid: std::process::id() as i64,
            error: event.error,
            failed_stage: event.failed_stage,
            summary: event.summary,
            mode: Some(event.mode),
        };
        match self {
            Ledger::Delta { warehouse } => delta::append(warehouse, &stored).await,
            Ledger::Postgres(pg) => pg.append(&stored).await,
        }
    }

    /// Every run, oldest first; empty when nothing was recorded yet.
    pub async fn runs(&self) -> Result<Vec<LedgerRun>> {
        let events = match self {
            Ledger::Delta { warehouse } => delta::events(warehouse).await?,
            Ledger::Postgres(pg) => pg.events().await?,
        };
        Ok(fold(events))
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// A run as the ledger tells it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRun {
    pub run_id: String,
    pub job: String,
    /// `running`, `succeeded`, `failed`, or `killed` (started, never ended, its process gone).
    pub state: String,
    pub engine: String,
    /// How the run chose what to recompute (absent in ledgers written before modes existed).
    pub mode: Option<String>,
    pub params: serde_json::Value,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<i64>,
    pub error: Option<String>,
    pub failed_stage: Option<String>,
    pub summary: Option<serde_json::Value>,
}

/// Fold events (in time order) into runs: a start opens a run, its end completes it.
fn fold(events: Vec<StoredEvent>) -> Vec<LedgerRun> {
    let this_host = host();
    let mut runs: Vec<LedgerRun> = Vec::new();
    let mut started: Vec<i64> = Vec::new();
    for e in events {
        let text = chrono::DateTime::from_timestamp_micros(e.at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
        if e.event == "started" {
            let alive = e.host != this_host || Path::new(&format!("/proc/{}", e.pid)).exists();
            started.push(e.at);
            runs.push(LedgerRun {
                run_id: e.run_id,
                job: e.job,
                state: if alive { "running" } else { "killed" }.into(),
                engine: e.engine,
                mode: e.mode,
                params: serde_json::from_str(&e.params).unwrap_or(serde_json::Value::Null),
                started_at: text,
                finished_at: None,
                elapsed_ms: None,
                error: None,
                failed_stage: None,
                summary: None,
            });
        } else if let Some(i) = runs.iter().rposition(|r| r.run_id == e.run_id) {
            let run = &mut runs[i];
            run.state = e.event;
            run.finished_at = Some(text);
            run.elapsed_ms = Some((e.at - started[i]) / 1000);
            run.error = e.error;
            run.failed_stage = e.failed_stage;
            run.summary = e.summary.and_then(|s| serde_json::from_str(&s).ok());
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(run: &str, event: &str, at: i64, pid: i64) -> StoredEvent {
        StoredEvent {
            run_id: run.into(),
            job: "j.sql".into(),
            event: event.into(),
            at,
            engine: "embedded".into(),
            params: "{}".into(),
            host: host(),
            pid,
            error: (event == "failed").then(|| "boom".to_string()),
            failed_stage: None,
            summary: None,
            mode: Some("incremental".into()),
        }
    }

    #[test]
    fn events_fold_into_runs() {
        let me = std::process::id() as i64;
        let runs = fold(vec![
            event("a", "started", 1_000_000, me),
            event("b", "started", 2_000_000, i64::from(i32::MAX)),
            event("a", "failed", 4_000_000, me),
            event("c", "started", 5_000_000, me),
        ]);
        let states: Vec<(&str, &str, Option<i64>)> = runs
            .iter()
            .map(|r| (r.run_id.as_str(), r.state.as_str(), r.elapsed_ms))
            .collect();
        assert_eq!(
            states,
            [
                ("a", "failed", Some(3000)),
                ("b", "killed", None),
                ("c", "running", None)
            ]
        );
        assert_eq!(runs[0].error.as_deref(), Some("boom"));
    }
}
