//! The task log the job service gives its runs: when a run ends, the tasks of its Ballista jobs (see
//! [`strata_planner::tasks`]) are read from the scheduler's job state, where Ballista keeps a finished job's
//! execution graph (an hour, by default). A job belongs to the stage whose table or staged files its plan writes
//! (its `DeltaWriteExec`), if it started after the run did; a job that writes no file (rows for a sink) is not
//! reported. Every task any of those jobs started is reported, retried and failed ones included, with
//! the executor that ran it.

use std::sync::Arc;

use ballista_core::serde::protobuf::task_status;
use ballista_scheduler::cluster::JobState;
use ballista_scheduler::state::execution_stage::{ExecutionStage, TaskInfo};
use datafusion::common::tree_node::TreeNode;
use datafusion::physical_plan::ExecutionPlan;
use strata_connectors::delta::write_exec::DeltaWriteExec;
use strata_planner::tasks::{TaskLog, TaskRecord, Writers};

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

/// The location the plan's `DeltaWriteExec` writes, if it has one.
fn written(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let mut found = None;
    let _ = plan.apply(|node| {
        if let Some(write) = node.downcast_ref::<DeltaWriteExec>() {
            found = Some(write.target().table_url.to_string());
            return Ok(datafusion::common::tree_node::TreeNodeRecursion::Stop);
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    found
}

/// Whether `graph` ran some of its work more than once: a failed task, a stage attempt after the first, or a
/// partition taken by two tasks.
fn ran_twice(graph: &ballista_scheduler::state::execution_graph::ExecutionGraphBox) -> bool {
    graph.stages().values().any(|stage| {
        if matches!(stage, ExecutionStage::Successful(s) if s.stage_attempt_num > 0) {
            return true;
        }
        let infos = stage.task_infos().unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        infos.iter().any(|info| {
            matches!(info.task_status, task_status::Status::Failed(_))
                || info.global_input_partition_ids.iter().any(|p| !seen.insert(*p))
        })
    })
}

#[async_trait::async_trait]
impl TaskLog for BallistaTasks {
    async fn disturbed(&self, since: u128) -> bool {
        let jobs = match self.state.get_all_jobs().await {
            Ok(jobs) => jobs,
            // Unknown is not disturbed: the write's own checks still hold.
            Err(_) => return false,
        };
        for job in jobs {
            if let Ok(Some(graph)) = self.state.get_execution_graph(&job).await
                && u128::from(graph.start_time()) >= since
                && ran_twice(&graph)
            {
                tracing::warn!(job = %job, "a Ballista job ran some of its work twice (a lost executor)");
                return true;
            }
        }
        false
    }

    async fn tasks(&self, since: u128, writers: &Writers) -> Vec<TaskRecord> {
        let jobs = match self.state.get_all_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "could not list the cluster's jobs for the run's tasks");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for job in jobs {
            let graph = match self.state.get_execution_graph(&job).await {
                Ok(Some(graph)) => graph,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(job = %job, error = %e, "could not read a stage job's tasks");
                    continue;
                }
            };
            // The run's jobs: started since the run did, writing one of its stages' tables or staged files (the
            // scheduler's session contexts do not keep the client's session id, so the session cannot tell).
            if u128::from(graph.start_time()) < since {
                continue;
            }
            let Some(stage) = written(&graph.physical_plan()).and_then(|l| writers.stage_of(&l).map(str::to_string))
            else {
                continue;
            };
            for (id, ballista_stage) in graph.stages() {
                for info in ballista_stage.task_infos().unwrap_or_default() {
                    out.push(record(&stage, *id, info));
                }
            }
        }
        out
    }
}
