//! The progress watchdog: a Ballista job that stops making progress is cancelled, so the query waiting for it fails
//! and Strata's stage retry runs the stage again (a run fails once its retries are spent). Without it a job whose
//! state machine is left with nothing to run after a lost executor stays "running" forever, and so does the run
//! that waits for it.
//!
//! A job is stalled when, for the whole stall timeout, none of its tasks is running, nothing in it has changed (no
//! task or stage finished, none started), and either it has nothing to run or the whole cluster runs nothing (so
//! it is not merely waiting for slots that other jobs hold). A task that runs for a long time is not a stall: it is
//! bounded by its executor's heartbeats (an executor that stops sending them is lost, and its tasks run again).
//!
//! Each tick also settles the task-slot books ([`crate::slots`]): vcores an executor has had reserved for three
//! ticks running beyond what the tasks running there need are returned, and Ballista is asked to offer them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ballista_core::JobId;
use ballista_core::serde::protobuf::UpdateTaskStatusParams;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
use ballista_scheduler::state::execution_stage::ExecutionStage;

use crate::jobs::Scheduler;
use crate::slots::SlotBooks;

/// Ticks a slot surplus must persist before it is returned (a task bound between two reads is no surplus).
const SURPLUS_TICKS: u32 = 3;

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

/// Watch every running job every `tick`; cancel a job stalled for `timeout`; settle the slot books. Runs until the
/// process ends.
pub async fn watch(scheduler: Scheduler, books: Arc<SlotBooks>, timeout: Duration, tick: Duration) {
    let mut seen: HashMap<JobId, Seen> = HashMap::new();
    let mut surplus: HashMap<String, ((i64, i64), u32)> = HashMap::new();
    loop {
        tokio::time::sleep(tick).await;
        let jobs = scheduler.state.task_manager.get_running_job_cache();
        let mut now: HashMap<JobId, Progress> = HashMap::new();
        // The vcores the running tasks hold, per executor.
        let mut needed: HashMap<String, i64> = HashMap::new();
        for (job_id, info) in jobs.iter() {
            let graph = info.execution_graph.read().await;
            for task in graph.running_tasks() {
                let vcores = graph.task_vcores(task.stage_id, task.task_id).unwrap_or(1);
                *needed.entry(task.executor_id).or_default() += i64::from(vcores);
            }
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
        settle(&scheduler, &books, &needed, &mut surplus).await;
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

/// Return vcores that stayed reserved beyond what running tasks need for [`SURPLUS_TICKS`] ticks, and have Ballista
/// offer them (an empty status update of the executor makes it revive its offers).
async fn settle(
    scheduler: &Scheduler,
    books: &SlotBooks,
    needed: &HashMap<String, i64>,
    surplus: &mut HashMap<String, ((i64, i64), u32)>,
) {
    let reserved = books.reserved();
    surplus.retain(|executor, _| reserved.contains_key(executor));
    for (executor, held) in reserved {
        let need = needed.get(&executor).copied().unwrap_or(0);
        if held <= need {
            surplus.remove(&executor);
            continue;
        }
        let entry = surplus.entry(executor.clone()).or_insert(((held, need), 0));
        if entry.0 != (held, need) {
            *entry = ((held, need), 0);
        }
        entry.1 += 1;
        if entry.1 < SURPLUS_TICKS {
            continue;
        }
        surplus.remove(&executor);
        let leaked = (held - need) as u32;
        tracing::warn!(
            %executor,
            leaked,
            "returning task slots Ballista kept reserved for tasks no job runs (a status update of a rolled-back \
             stage or an ended job)"
        );
        if let Err(e) = books.refund(&executor, leaked).await {
            tracing::error!(%executor, error = %e, "could not return leaked task slots");
            continue;
        }
        let revive = tonic::Request::new(UpdateTaskStatusParams {
            executor_id: executor.clone(),
            task_status: Vec::new(),
        });
        if let Err(e) = SchedulerGrpc::update_task_status(scheduler, revive).await {
            tracing::warn!(%executor, error = %e, "could not ask Ballista to offer returned task slots");
        }
    }
}
