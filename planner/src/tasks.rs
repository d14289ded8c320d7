//! Where a run's tasks ran. On a cluster a run's stages are Ballista jobs; when the run ends, a [`TaskLog`] that
//! can read those jobs' execution graphs (the scheduler's) answers with their tasks, each named after the stage
//! whose files its job writes ([`Writers`]: table and staging locations by stage), and the run's summary keeps them,
//! timed from the run's start, for the console's timeline. A run without a task log (embedded, or a client that is
//! not the scheduler) records none: its stages are its timeline. The jobs are not told apart by name: naming them
//! takes a session per stage, and with those, runs that lost an executor committed some rows twice in the chaos
//! tests (not with one shared session, which every stage keeps).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The locations a run's stages write (their tables, and their staged files), with each stage's name: how a
/// Ballista job is told to belong to a stage.
#[derive(Debug, Clone, Default)]
pub struct Writers(Vec<(String, String)>);

impl Writers {
    /// Record that `stage` writes the files under `location`.
    pub fn add(&mut self, location: &url::Url, stage: &str) {
        self.0
            .push((location.as_str().trim_end_matches('/').to_string(), stage.to_string()));
    }

    /// The stage that writes `location`, if any.
    pub fn stage_of(&self, location: &str) -> Option<&str> {
        let location = location.trim_end_matches('/');
        self.0.iter().find(|(l, _)| l == location).map(|(_, s)| s.as_str())
    }
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
    /// Every task of the jobs that started at or after `since` (ms since the epoch) and write a location of
    /// `writers`, each named after that location's stage.
    async fn tasks(&self, since: u128, writers: &Writers) -> Vec<TaskRecord>;

    /// Whether a job that started at or after `since` ran some of its work more than once (a failed task, a stage
    /// attempt after the first, a partition run twice): what a lost executor leaves. Ballista can then deliver a
    /// stage's intermediate results twice to the stage that reads them, so such a job's result is not trusted.
    async fn disturbed(&self, since: u128) -> bool;
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
    fn writers_name_the_stage_of_a_location_with_or_without_its_slash() {
        let mut writers = Writers::default();
        writers.add(
            &url::Url::parse("file:///wh/silver/daily_bars/").unwrap(),
            "silver.daily_bars",
        );
        assert_eq!(
            writers.stage_of("file:///wh/silver/daily_bars"),
            Some("silver.daily_bars")
        );
        assert_eq!(
            writers.stage_of("file:///wh/silver/daily_bars/"),
            Some("silver.daily_bars")
        );
        assert_eq!(writers.stage_of("file:///wh/silver/weekly_bars/"), None);
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
