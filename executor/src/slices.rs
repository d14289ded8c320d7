//! Strata's execution engine for Ballista executors: Ballista's own, plus one thing it cannot know — which global
//! partitions a task's local partitions are. A task runs a slice of its stage's partitions as local partitions
//! 0, 1, …; a Delta write that reports only its local partition would make every task's files look like partition
//! 0's. Each [`DeltaWriteExec`] in a task's plan is told its slice, so the coordinator can commit exactly one
//! execution of every partition (`strata_connectors::delta::write_result`). Task plans also get the physical rules
//! the embedded engine installs (`strata_planner::config::embedded_state`): the scheduler encodes plans in
//! DataFusion's format, which knows only DataFusion's operators.

use std::sync::Arc;

use ballista_core::JobId;
use ballista_executor::execution_engine::{DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use strata_connectors::delta::write_exec::DeltaWriteExec;

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
        self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )
    }
}
