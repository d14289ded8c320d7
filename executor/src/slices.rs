//! Strata's execution engine for Ballista executors: Ballista's own, plus one thing it cannot know — which global
//! partitions a task's local partitions are. A task runs a slice of its stage's partitions as local partitions
//! 0, 1, …; a Delta write that reports only its local partition would make every task's files look like partition
//! 0's. Each [`DeltaWriteExec`] in a task's plan is told its slice, so the coordinator can commit exactly one
//! execution of every partition (`strata_connectors::delta::write_result`). Task plans also get the physical rules
//! the embedded engine installs (`strata_planner::config::embedded_state`): the scheduler encodes plans in
//! DataFusion's format, which knows only DataFusion's operators. Every task is metered ([`MeteredStage`]): tasks
//! running and finished, their time, the memory pool's reservations, and what the task's operators spilled.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use ballista_core::JobId;
use ballista_core::serde::protobuf::{RuntimeStatsReport, ShuffleWritePartition};
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::context::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{MetricValue, MetricsSet};
use datafusion::prelude::SessionConfig;
use metrics::{counter, gauge, histogram};
use strata_connectors::delta::write_exec::DeltaWriteExec;
use strata_connectors::metrics as names;

/// Ballista's default engine, with Delta writes told their task's slice.
#[derive(Default)]
pub struct StrataExecutionEngine {
    inner: DefaultExecutionEngine,
}

impl ExecutionEngine for StrataExecutionEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> datafusion::error::Result<Arc<dyn QueryStageExecutor>> {
        // The embedded engine's physical rules, which the scheduler cannot apply (see `embedded_state`).
        let mut plan = plan;
        for rule in strata_sql::physical::rules() {
            plan = rule.optimize(plan, config.options())?;
        }
        let plan = plan
            .transform_up(|p| match p.downcast_ref::<DeltaWriteExec>() {
                Some(write) => Ok(Transformed::yes(
                    Arc::new(write.with_slices(global_output_partition_ids.clone())) as Arc<dyn ExecutionPlan>,
                )),
                None => Ok(Transformed::no(p)),
            })?
            .data;
        let inner = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(MeteredStage { inner }))
    }
}

/// A task's stage executor that records the task in the executor's metrics.
#[derive(Debug)]
struct MeteredStage {
    inner: Arc<dyn QueryStageExecutor>,
}

impl fmt::Display for MeteredStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for MeteredStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<Vec<ShuffleWritePartition>> {
        let (running, memory) = (gauge!(names::EXECUTOR_RUNNING), gauge!(names::EXECUTOR_MEMORY));
        running.increment(1.0);
        let started = Instant::now();
        let result = self.inner.execute_query_stage(task_id, context.clone()).await;
        running.decrement(1.0);
        // The pool is the executor's (shared by its tasks): what the others still hold.
        memory.set(context.memory_pool().reserved() as f64);
        histogram!(names::EXECUTOR_TASK_DURATION).record(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "succeeded" } else { "failed" };
        counter!(names::EXECUTOR_TASKS, "outcome" => outcome).increment(1);
        let (spills, bytes) = spilled(&self.inner.collect_plan_metrics());
        counter!(names::EXECUTOR_SPILLS).increment(spills);
        counter!(names::EXECUTOR_SPILLED).increment(bytes);
        result
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }
}

/// (spills, bytes spilled) over every operator of a task's plan.
fn spilled(sets: &[MetricsSet]) -> (u64, u64) {
    let (mut spills, mut bytes) = (0, 0);
    for metric in sets.iter().flat_map(|set| set.iter()) {
        match metric.value() {
            MetricValue::SpillCount(count) => spills += count.value() as u64,
            MetricValue::SpilledBytes(count) => bytes += count.value() as u64,
            _ => {}
        }
    }
    (spills, bytes)
}
