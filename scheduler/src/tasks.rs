//! The task log the job service gives its runs: when a run ends, the tasks of its stages' Ballista jobs (named
//! after the run, see [`strata_planner::tasks`]) are read from the scheduler's job state, where Ballista keeps a
//! finished job's execution graph (an hour, by default). Every task any of those jobs started is reported, retried
//! and failed ones included, with the executor that ran it.

use std::sync::Arc;

use ballista_core::serde::protobuf::task_status;
use ballista_scheduler::cluster::JobState;
use ballista_scheduler::state::execution_stage::TaskInfo;
use strata_planner::tasks::{TaskLog, TaskRecord, parse_job_name};

/// Reads run tasks from a Ballista scheduler's job state.
pub struct BallistaTasks {
    state: Arc<dyn JobState>,
}

impl BallistaTasks {
    /// A task log over `state` (the scheduler's).
    pub fn new(state: Arc<dyn JobState>) -> Self {
        Self { state }
    }
}

fn record(stage: &str, ballista_stage: usize, info: &TaskInfo) -> TaskRecord {
    let (executor, state) = match &info.task_status {
        task_status::Status::Running(t) => (Some(t.executor_id.clone()), "running"),
        task_status::Status::Successful(t) => (Some(t.executor_id.clone()), "succeeded"),
        task_status::Status::Failed(_) => (None, "failed"),
    };
    // A task that never reported its execution's start is timed from its launch.
    let started = if info.start_exec_time > 0 {
        info.start_exec_time
    } else {
        info.launch_time
    };
    let ended = if info.end_exec_time > 0 {
        info.end_exec_time
    } else {
        info.finish_time
    };
    TaskRecord {
        stage: stage.to_string(),
        task: format!("{ballista_stage}.{}", info.task_id),
        executor,
        state: state.to_string(),
        started_epoch_ms: started,
        ended_epoch_ms: ended,
    }
}

#[async_trait::async_trait]
impl TaskLog for BallistaTasks {
    async fn tasks(&self, run_id: &str) -> Vec<TaskRecord> {
        let jobs = match self.state.get_all_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(run_id, error = %e, "could not list the cluster's jobs for the run's tasks");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for job in jobs {
            // The status carries the name: only the run's own jobs' graphs are read.
            let Ok(Some(status)) = self.state.get_job_status(&job).await else {
                continue;
            };
            let Some((run, stage)) = parse_job_name(&status.job_name) else {
                continue;
            };
            if run != run_id {
                continue;
            }
            let graph = match self.state.get_execution_graph(&job).await {
                Ok(Some(graph)) => graph,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(run_id, job = %job, error = %e, "could not read a stage job's tasks");
                    continue;
                }
            };
            for (id, ballista_stage) in graph.stages() {
                for info in ballista_stage.task_infos().unwrap_or_default() {
                    out.push(record(stage, *id, info));
                }
            }
        }
        out
    }
}
