//! `StreamingWindowExec`: DataFusion's `WindowAggExec` — the operator for window functions that need a whole
//! partition at once (every Strata indicator, `evaluate_all`) — run partition by partition as the sorted input
//! arrives, instead of after all of it.
//!
//! `WindowAggExec` collects its entire input partition (with `target_partitions = 2`, half of the table), computes,
//! and emits one batch of all of it: for the stock pipeline's indicator stage, 12.5 M rows and 21 computed columns
//! held at once, most of that run's 5.8 GB. Its input is sorted on the PARTITION BY keys (the operator requires
//! it), so a partition is complete as soon as a row with another key arrives: this operator keeps only the rows of
//! the partition still open, and computes and emits each batch's completed partitions with the same calls
//! `WindowAggExec` makes (`WindowExpr::evaluate` on each partition's rows). Results, schema, ordering and
//! partitioning are the replaced operator's; memory is one partition plus one batch, registered with the run's
//! memory pool (a partition larger than the budget fails the stage with the budget's error).
//!
//! Only operators with a PARTITION BY whose input provably satisfies their ordering are replaced: without a
//! PARTITION BY the whole input is one partition, and nothing could be emitted before the end anyway.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{concat, concat_batches, partition};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::ReplaceChildrenOptions;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::windows::{WindowAggExec, WindowExpr};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, InputDistributionRequirements,
    PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

/// The operator (see the module docs); built by [`StreamingWindows`] from the `WindowAggExec` it replaces.
#[derive(Debug)]
pub struct StreamingWindowExec {
    input: Arc<dyn ExecutionPlan>,
    window_expr: Vec<Arc<dyn WindowExpr>>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    ordering: Vec<Option<OrderingRequirements>>,
    distribution: InputDistributionRequirements,
    metrics: ExecutionPlanMetricsSet,
}

impl StreamingWindowExec {
    fn replacing(window: &WindowAggExec) -> Self {
        Self {
            input: Arc::clone(window.input()),
            window_expr: window.window_expr().to_vec(),
            partition_by: window.window_expr()[0].partition_by().to_vec(),
            schema: window.schema(),
            properties: Arc::clone(window.properties()),
            ordering: window.required_input_ordering(),
            distribution: window.input_distribution_requirements(),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for StreamingWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.window_expr.iter().map(|e| e.name()).collect();
        write!(f, "StreamingWindowExec: wdw=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for StreamingWindowExec {
    fn name(&self) -> &str {
        "StreamingWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for e in self.window_expr.iter().flat_map(|w| w.all_expressions().args) {
            if f(&e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.ordering.clone()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.distribution.clone()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("StreamingWindowExec needs one input".into()))?;
        Ok(Arc::new(Self {
            input,
            window_expr: self.window_expr.clone(),
            partition_by: self.partition_by.clone(),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
            ordering: self.ordering.clone(),
            distribution: self.distribution.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Keep),
        )
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let reservation =
            MemoryConsumer::new(format!("StreamingWindowExec[{partition}]")).register(context.memory_pool());
        let mut state = Partitions {
            window_expr: self.window_expr.clone(),
            partition_by: self.partition_by.clone(),
            input_schema: self.input.schema(),
            schema: Arc::clone(&self.schema),
            open: Vec::new(),
            open_key: None,
            reservation,
        };
        // One output batch per input batch that completes partitions, and the last open partition at the end.
        let batches = input.map(Some).chain(futures::stream::once(async { None }));
        let stream = batches.filter_map(move |item| {
            let _timer = baseline.elapsed_compute().timer();
            let out = match item {
                Some(Ok(batch)) => state.push(batch),
                Some(Err(e)) => Err(e),
                None => state.finish(),
            };
            let out = match out {
                Ok(Some(batch)) => {
                    baseline.record_output(batch.num_rows());
                    Some(Ok(batch))
                }
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            };
            futures::future::ready(out)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// The operator's state: the rows of the partition still open (its key: `open_key`).
struct Partitions {
    window_expr: Vec<Arc<dyn WindowExpr>>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    input_schema: SchemaRef,
    schema: SchemaRef,
    open: Vec<RecordBatch>,
    open_key: Option<Vec<ScalarValue>>,
    reservation: MemoryReservation,
}

impl Partitions {
    fn keys(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        self.partition_by
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(batch.num_rows())))
            .collect()
    }

    /// Take `batch`; return the window results of the partitions it completes (`None`: it completes none).
    fn push(&mut self, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(None);
        }
        let keys = self.keys(&batch)?;
        let key_at = |row: usize| -> Result<Vec<ScalarValue>> {
            keys.iter().map(|k| ScalarValue::try_from_array(k, row)).collect()
        };
        let ranges = partition(&keys)?.ranges();
        let last_start = ranges.last().map_or(0, |r| r.start);
        let (first, last) = (key_at(0)?, key_at(rows - 1)?);
        // Rows before the last run of the batch complete the partitions they hold; so does a first row whose key
        // differs from the open partition's.
        let completes_open = self.open_key.as_ref().is_some_and(|k| *k != first);
        let done = match (last_start, completes_open) {
            (0, false) => None,
            (0, true) => Some(self.take_open()?),
            (s, _) => {
                let mut chunk = std::mem::take(&mut self.open);
                chunk.push(batch.slice(0, s));
                Some(concat_batches(&self.input_schema, &chunk)?)
            }
        };
        let tail = batch.slice(last_start, rows - last_start);
        self.open.push(tail);
        self.open_key = Some(last);
        self.reservation
            .try_resize(self.open.iter().map(RecordBatch::get_array_memory_size).sum())?;
        done.map(|chunk| self.compute(&chunk)).transpose()
    }

    fn take_open(&mut self) -> Result<RecordBatch> {
        let open = std::mem::take(&mut self.open);
        Ok(concat_batches(&self.input_schema, &open)?)
    }

    /// The end of the input: the open partition is complete.
    fn finish(&mut self) -> Result<Option<RecordBatch>> {
        if self.open.is_empty() {
            return Ok(None);
        }
        let chunk = self.take_open()?;
        self.open_key = None;
        self.reservation.free();
        self.compute(&chunk).map(Some)
    }

    /// The window columns of `chunk` (whole partitions, in order), each partition evaluated on its own rows as
    /// `WindowAggExec` evaluates it.
    fn compute(&self, chunk: &RecordBatch) -> Result<RecordBatch> {
        let keys = self.keys(chunk)?;
        let ranges = partition(&keys)?.ranges();
        let mut per_expr: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(ranges.len()); self.window_expr.len()];
        for range in ranges {
            let slice = chunk.slice(range.start, range.end - range.start);
            for (out, expr) in per_expr.iter_mut().zip(&self.window_expr) {
                out.push(expr.evaluate(&slice)?);
            }
        }
        let mut columns = chunk.columns().to_vec();
        for parts in per_expr {
            let parts: Vec<&dyn datafusion::arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
            columns.push(concat(&parts)?);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

/// The physical rule: every `WindowAggExec` with a PARTITION BY over input sorted for it becomes a
/// [`StreamingWindowExec`].
#[derive(Debug, Default)]
pub struct StreamingWindows;

impl StreamingWindows {
    /// `plan` with every eligible window operator replaced.
    pub fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(plan
            .transform_up(|p| {
                let Some(window) = p.downcast_ref::<WindowAggExec>() else {
                    return Ok(Transformed::no(p));
                };
                let eligible = !window.window_expr().is_empty()
                    && !window.window_expr()[0].partition_by().is_empty()
                    && window.required_input_ordering().first().is_some_and(|r| match r {
                        Some(required) => window
                            .input()
                            .equivalence_properties()
                            .ordering_satisfy_requirement(required.clone().into_single())
                            .unwrap_or(false),
                        None => false,
                    });
                match eligible {
                    true => Ok(Transformed::yes(
                        Arc::new(StreamingWindowExec::replacing(window)) as Arc<dyn ExecutionPlan>
                    )),
                    false => Ok(Transformed::no(p)),
                }
            })?
            .data)
    }
}

impl PhysicalOptimizerRule for StreamingWindows {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        Self::rewrite(plan)
    }

    fn name(&self) -> &str {
        "strata_streaming_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
