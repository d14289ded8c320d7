//! The run ledger: every run of a job is recorded once when it starts and once when it ends (succeeded or failed,
//! with the failing stage and the error, the stages' rows, the output tables' versions and the Kafka offsets read).
//! A run killed in between leaves only its start: readers report it as killed when its process is gone. Both the
//! embedded engine and the scheduler write it.
//!
//! The ledger is a Delta table in the warehouse, `_strata/runs` ([`delta`]), unless `strata.ledger` names a
//! PostgreSQL schema (`postgres://host:port/db?schema=ops`), where it is the table `<schema>.runs` ([`postgres`]):
//! the place operations teams already query.
//!
//! Rows hold a [`RunEvent`] (a start or an end) and readers fold them into runs with a [`RunState`]; the words
//! of both are fixed ([`state`]), so ledgers written by any version read back the same. A row is [`stored`]'s
//! `StoredEvent` in both stores; the stores and the states import nothing from this module.

mod delta;
mod postgres;
mod state;
mod stored;

use std::path::Path;

use serde::Serialize;
use strata_connectors::location::Warehouse;

use crate::error::Result;

pub use state::{RunEvent, RunState};
pub use stored::LEDGER_TABLE;
use stored::StoredEvent;

/// One ledger row.
#[derive(Debug, Clone, Default)]
pub struct LedgerEvent {
    /// The run's id (a UUID unless the caller chose one); a run's start and end rows share it.
    pub run_id: String,
    /// The job file's path, as given.
    pub job: String,
    /// The run's start, or its end.
    pub event: RunEvent,
    /// The engine's name ([`Engine::name`](crate::engine::Engine::name)): `embedded`, `standalone` or `cluster`.
    pub engine: String,
    /// `incremental`, `full-refresh` or `backfill FROM TO`.
    pub mode: String,
    /// Parameters as JSON.
    pub params: String,
    /// The error message of a failed run's end; `None` otherwise.
    pub error: Option<String>,
    /// What failed, for a failed end: the stage's name, `commit of <table>` or `expectation <rule> of <table>`;
    /// `None` for other ends, and for errors outside stages, commits and expectations.
    pub failed_stage: Option<String>,
    /// The run summary as JSON (stages, outputs and versions, sources and offsets).
    pub summary: Option<String>,
}

/// Where a job's runs are recorded.
#[derive(Debug, Clone)]
pub enum Ledger {
    /// `<warehouse>/_strata/runs`.
    Delta {
        /// The warehouse.
        warehouse: Warehouse,
    },
    /// `<schema>.runs` in a PostgreSQL database.
    Postgres(postgres::PgLedger),
}

impl Ledger {
    /// The ledger `location` names (`postgres://…?schema=…`), or the warehouse's own when it is empty.
    pub fn open(warehouse: &Warehouse, location: &str) -> Result<Ledger> {
        if location.trim().is_empty() {
            return Ok(Ledger::Delta {
                warehouse: warehouse.clone(),
            });
        }
        Ok(Ledger::Postgres(postgres::PgLedger::parse(location)?))
    }

    /// Where the ledger is, for messages (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Ledger::Delta { warehouse } => format!("the ledger of {warehouse}"),
            Ledger::Postgres(pg) => format!("the ledger {}", pg.describe()),
        }
    }

    /// Append one event.
    pub async fn record(&self, event: LedgerEvent) -> Result<()> {
        let stored = StoredEvent {
            run_id: event.run_id,
            job: event.job,
            event: event.event.as_str().to_string(),
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
    /// The run's id.
    pub run_id: String,
    /// The job file's path, as given to the run.
    pub job: String,
    /// Running, succeeded, failed, or killed (started, never ended, its process gone).
    pub state: RunState,
    /// The engine it ran on: `embedded`, `standalone` or `cluster`.
    pub engine: String,
    /// How the run chose what to recompute (absent in ledgers written before modes existed).
    pub mode: Option<String>,
    /// The parameters, a JSON object of name to value (`null` when the row's JSON does not parse).
    pub params: serde_json::Value,
    /// When the run started, `YYYY-MM-DD HH:MM:SS UTC`.
    pub started_at: String,
    /// When the run ended, in the same format; `None` while it runs or when it was killed.
    pub finished_at: Option<String>,
    /// Milliseconds from start to end; `None` until the run ends.
    pub elapsed_ms: Option<i64>,
    /// A failed run's error message; `None` otherwise.
    pub error: Option<String>,
    /// What a failed run failed in ([`LedgerEvent::failed_stage`]); `None` otherwise.
    pub failed_stage: Option<String>,
    /// A succeeded run's summary ([`LedgerEvent::summary`]); `None` otherwise, or when it does not parse.
    pub summary: Option<serde_json::Value>,
    /// The stage DAG the run planned (`{"stages": [{stage, kind, inputs, location}]}`), from its start row;
    /// `None` for runs recorded before starts carried it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
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
        let event = match e.event.parse::<RunEvent>() {
            Ok(event) => event,
            Err(why) => {
                // Written by a newer version, or by hand: not a run's start or end that this version knows.
                tracing::debug!(run_id = %e.run_id, %why, "ledger row skipped");
                continue;
            }
        };
        if event == RunEvent::Started {
            let alive = e.host != this_host || Path::new(&format!("/proc/{}", e.pid)).exists();
            started.push(e.at);
            runs.push(LedgerRun {
                run_id: e.run_id,
                job: e.job,
                state: if alive { RunState::Running } else { RunState::Killed },
                engine: e.engine,
                mode: e.mode,
                params: serde_json::from_str(&e.params).unwrap_or(serde_json::Value::Null),
                started_at: text,
                finished_at: None,
                elapsed_ms: None,
                error: None,
                failed_stage: None,
                summary: None,
                plan: e.summary.and_then(|s| serde_json::from_str(&s).ok()),
            });
        } else if let Some(i) = runs.iter().rposition(|r| r.run_id == e.run_id) {
            let run = &mut runs[i];
            run.state = event.state();
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

    fn event(run: &str, event: RunEvent, at: i64, pid: i64) -> StoredEvent {
        StoredEvent {
            run_id: run.into(),
            job: "j.sql".into(),
            event: event.as_str().into(),
            at,
            engine: "embedded".into(),
            params: "{}".into(),
            host: host(),
            pid,
            error: (event == RunEvent::Failed).then(|| "boom".to_string()),
            failed_stage: None,
            summary: None,
            mode: Some("incremental".into()),
        }
    }

    #[test]
    fn events_fold_into_runs() {
        let me = std::process::id() as i64;
        let runs = fold(vec![
            event("a", RunEvent::Started, 1_000_000, me),
            event("b", RunEvent::Started, 2_000_000, i64::from(i32::MAX)),
            event("a", RunEvent::Failed, 4_000_000, me),
            event("c", RunEvent::Started, 5_000_000, me),
        ]);
        let states: Vec<(&str, RunState, Option<i64>)> = runs
            .iter()
            .map(|r| (r.run_id.as_str(), r.state, r.elapsed_ms))
            .collect();
        assert_eq!(
            states,
            [
                ("a", RunState::Failed, Some(3000)),
                ("b", RunState::Killed, None),
                ("c", RunState::Running, None)
            ]
        );
        assert_eq!(runs[0].error.as_deref(), Some("boom"));
        // The JSON of a run (what `strata runs --log-format json` prints) keeps the state's word.
        assert_eq!(serde_json::to_value(&runs[1]).unwrap()["state"], "killed");
    }

    #[test]
    fn rows_of_unknown_events_are_skipped() {
        let me = std::process::id() as i64;
        let mut odd = event("a", RunEvent::Succeeded, 2_000_000, me);
        odd.event = "paused".into();
        let runs = fold(vec![event("a", RunEvent::Started, 1_000_000, me), odd]);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].state, RunState::Running);
    }
}
