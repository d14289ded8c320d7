//! Where a run's tasks ran. On a cluster every stage runs as Ballista jobs named after the run and the stage
//! (`strata:<run id>:<stage>`, [`ballista_job_name`]); when the run ends, a [`TaskLog`] that can read those jobs'
//! execution graphs (the scheduler's) answers with their tasks, and the run's summary keeps them, timed from the
//! run's start, for the console's timeline. A run without a task log (embedded, or a client that is not the
//! scheduler) records none: its stages are its timeline.

use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::prelude::{SessionConfig, SessionContext};
use serde::Serialize;

/// The prefix of every Ballista job a Strata run submits.
const PREFIX: &str = "strata:";

/// The Ballista job name of `stage` of run `run_id`.
pub fn ballista_job_name(run_id: &str, stage: &str) -> String {
    format!("{PREFIX}{run_id}:{stage}")
}

/// The run id and stage a Ballista job name stands for (`None` for jobs Strata's runs did not submit). Run ids
/// never hold a colon; stage names may.
pub fn parse_job_name(name: &str) -> Option<(&str, &str)> {
    name.strip_prefix(PREFIX)?.split_once(':')
}

/// A session like `ctx` whose Ballista jobs carry `name` (the tables, functions and options are shared).
pub(crate) fn named_session(ctx: &SessionContext, name: &str) -> SessionContext {
    use ballista_core::extension::SessionConfigExt;
    let mut state = ctx.state();
    let config: SessionConfig = state.config().clone().with_ballista_job_name(name);
    *state.config_mut() = config;
    SessionContext::new_with_state(state)
}

/// One task as the cluster recorded it (times in milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The Strata stage the task belongs to.
    pub stage: String,
    /// The task within its Ballista job: `<ballista stage>.<task>` (a Strata stage may take several Ballista stages,
    /// and a retried stage another job).
    pub task: String,
    /// The executor that ran it, when one did.
    pub executor: Option<String>,
    /// `succeeded`, `failed` or `running`.
    pub state: String,
    /// When it began executing.
    pub started_epoch_ms: u128,
    /// When it ended (0 while running).
    pub ended_epoch_ms: u128,
}

/// Reads the tasks of a run's Ballista jobs.
#[async_trait::async_trait]
pub trait TaskLog: Send + Sync {
    /// Every task of the jobs named after `run_id`.
    async fn tasks(&self, run_id: &str) -> Vec<TaskRecord>;
}

/// A task in a run's summary, timed from the run's start.
#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    /// The Strata stage it belongs to.
    pub stage: String,
    /// `<ballista stage>.<task>`.
    pub task: String,
    /// The executor that ran it.
    pub executor: Option<String>,
    /// `succeeded`, `failed` or `running`.
    pub state: String,
    /// Milliseconds from the run's start to the task's start.
    pub started_ms: u128,
    /// Milliseconds the task took.
    pub elapsed_ms: u128,
}

/// Milliseconds since the epoch now.
pub(crate) fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// `records` timed from `run_started` (ms since the epoch), in start order.
pub(crate) fn reports(records: Vec<TaskRecord>, run_started: u128) -> Vec<TaskReport> {
    let mut out: Vec<TaskReport> = records
        .into_iter()
        .map(|r| TaskReport {
            started_ms: r.started_epoch_ms.saturating_sub(run_started),
            elapsed_ms: r.ended_epoch_ms.saturating_sub(r.started_epoch_ms),
            stage: r.stage,
            task: r.task,
            executor: r.executor,
            state: r.state,
        })
        .collect();
    out.sort_by(|a, b| (a.started_ms, &a.stage, &a.task).cmp(&(b.started_ms, &b.stage, &b.task)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_round_trip_and_foreign_names_are_not_ours() {
        let name = ballista_job_name("0b1c-2d", "silver.daily_bars");
        assert_eq!(parse_job_name(&name), Some(("0b1c-2d", "silver.daily_bars")));
        assert_eq!(parse_job_name("strata:r1:a:b"), Some(("r1", "a:b")));
        assert_eq!(parse_job_name("ballista job"), None);
        assert_eq!(parse_job_name("strata:no-stage"), None);
    }

    #[test]
    fn reports_are_timed_from_the_run_start_in_start_order() {
        let record = |task: &str, start: u128, end: u128| TaskRecord {
            stage: "gold".into(),
            task: task.into(),
            executor: Some("e1".into()),
            state: "succeeded".into(),
            started_epoch_ms: start,
            ended_epoch_ms: end,
        };
        let out = reports(vec![record("1.1", 1_500, 1_900), record("1.0", 1_200, 1_250)], 1_000);
        assert_eq!(out[0].task, "1.0");
        assert_eq!((out[0].started_ms, out[0].elapsed_ms), (200, 50));
        assert_eq!((out[1].started_ms, out[1].elapsed_ms), (500, 400));
        // A task still running (no end) takes no negative time.
        let running = reports(vec![record("2.0", 1_500, 0)], 1_000);
        assert_eq!(running[0].elapsed_ms, 0);
    }
}
