//! The progress watchdog: a Ballista job that stops making progress is cancelled, so the query waiting for it fails
//! and Strata's stage retry runs the stage again (a run fails once its retries are spent). Without it a job whose
//! state machine is left with nothing to run after a lost executor stays "running" forever, and so does the run
//! that waits for it.
//!
//! A job is stalled when, for the whole stall timeout, none of its tasks is running, nothing in it has changed (no
//! task or stage finished, none started), and either it has nothing to run or the whole cluster runs nothing (so
//! it is not merely waiting for slots that other jobs hold). A task that runs for a long time is not a stall: it is
//! bounded by its executor's heartbeats (an executor that stops sending them is lost, and its tasks run again).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ballista_core::JobId;
use ballista_scheduler::state::execution_stage::ExecutionStage;

use crate::jobs::Scheduler;

/// What changes when a job makes progress.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Progress {
    /// Per stage: its state and, when running, how many of its tasks succeeded (done: its attempt).
    stages: Vec<(usize, &'static str, usize)>,
    /// Tasks running now, as (stage, task, executor).
    running: Vec<(usize, usize, String)>,
    /// Tasks ready to be scheduled.
    available: usize,
}

/// One job as the watchdog last saw it.
struct Seen {
    progress: Progress,
    since: Instant,
}

/// Watch every running job every `tick`; cancel a job stalled for `timeout`. Runs until the process ends.
pub async fn watch(scheduler: Scheduler, timeout: Duration, tick: Duration) {
    let mut seen: HashMap<JobId, Seen> = HashMap::new();
    loop {
        tokio::time::sleep(tick).await;
        let jobs = scheduler.state.task_manager.get_running_job_cache();
        let mut now: HashMap<JobId, Progress> = HashMap::new();
        for (job_id, info) in jobs.iter() {
            let graph = info.execution_graph.read().await;
            let mut stages: Vec<(usize, &'static str, usize)> = graph
                .stages()
                .iter()
                .map(|(id, stage)| match stage {
                    ExecutionStage::UnResolved(_) => (*id, "unresolved", 0),
                    ExecutionStage::Resolved(_) => (*id, "resolved", 0),
                    ExecutionStage::Running(s) => (*id, "running", s.successful_tasks()),
                    ExecutionStage::Successful(s) => (*id, "successful", s.stage_attempt_num),
                    ExecutionStage::Failed(_) => (*id, "failed", 0),
                })
                .collect();
            stages.sort();
            let mut running: Vec<(usize, usize, String)> = graph
                .running_tasks()
                .into_iter()
                .map(|t| (t.stage_id, t.task_id, t.executor_id))
                .collect();
            running.sort();
            let progress = Progress {
                stages,
                running,
                available: graph.available_tasks(),
            };
            now.insert(job_id.clone(), progress);
        }
        let cluster_busy = now.values().any(|p| !p.running.is_empty());
        seen.retain(|job, _| now.contains_key(job));
        for (job_id, progress) in now {
            let stalled = match seen.get_mut(&job_id) {
                Some(last) if last.progress == progress => {
                    let idle = progress.running.is_empty() && (progress.available == 0 || !cluster_busy);
                    idle && last.since.elapsed() >= timeout
                }
                Some(last) => {
                    *last = Seen {
                        progress,
                        since: Instant::now(),
                    };
                    false
                }
                None => {
                    seen.insert(
                        job_id.clone(),
                        Seen {
                            progress,
                            since: Instant::now(),
                        },
                    );
                    false
                }
            };
            if stalled {
                tracing::warn!(
                    job = %job_id,
                    timeout_s = timeout.as_secs(),
                    "job made no progress and has nothing running: cancelling it (its stage is retried)"
                );
                seen.remove(&job_id);
                if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                    tracing::error!(job = %job_id, error = %e, "could not cancel a stalled job");
                }
            }
        }
    }
}
