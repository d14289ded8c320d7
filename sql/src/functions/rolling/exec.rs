//! `RollingWindowExec`: a window operator for sorted input whose window expressions are all `rolling_agg` /
//! `rolling_count` over ROWS frames ending at the current row — the plain-SQL moving averages and deviations
//! after [`super::RollingFrames`]. It streams: each input batch is cut where the partition key changes, and
//! every expression's running state slides over the rows in one tight loop, writing a `Float64`/`Int64` column
//! directly.
//!
//! DataFusion's `BoundedWindowAggExec` evaluates the same functions through the row-at-a-time
//! `PartitionEvaluator::evaluate` (one call, one frame computation and one `ScalarValue` per row per expression,
//! then `ScalarValue::iter_to_array`), which was ~1 s of compute per expression on 12.6 M rows. The results are
//! the same by construction: the frame of row `i` of a partition is rows `max(0, i - n) ..= i`, each row enters
//! the running state once and leaves it once, with the same formulas ([`super::state::Running`]).
//!
//! Guarantees: the output schema, ordering, partitioning and emission are the replaced operator's (its plan
//! properties are kept); memory is bounded by the largest frame (`n` values per expression), whatever the
//! partition sizes.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Builder, Int64Builder, RecordBatch};
use datafusion::arrow::compute::{cast, partition};
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{OrderingRequirements, PhysicalExpr};
use datafusion::physical_plan::execution_plan::ReplaceChildrenOptions;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputDistributionRequirements, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use super::state::{Kind, Running};

/// One window expression of the operator: its value, what it computes, and its frame's `n PRECEDING`
/// (`None`: unbounded).
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) value: Arc<dyn PhysicalExpr>,
    pub(crate) kind: Kind,
    pub(crate) preceding: Option<usize>,
}

/// The operator; built by [`super::physical::RollingWindows`] from a `BoundedWindowAggExec` it replaces.
#[derive(Debug)]
pub struct RollingWindowExec {
    input: Arc<dyn ExecutionPlan>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    specs: Vec<Spec>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    ordering: Vec<Option<OrderingRequirements>>,
    distribution: InputDistributionRequirements,
    metrics: ExecutionPlanMetricsSet,
}

impl RollingWindowExec {
    /// The operator computing `specs` over `input` (sorted by `partition_by` first), with the replaced operator's
    /// properties and input requirements.
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        partition_by: Vec<Arc<dyn PhysicalExpr>>,
        specs: Vec<Spec>,
        replaced: &dyn ExecutionPlan,
    ) -> Self {
        Self {
            input,
            partition_by,
            specs,
            schema: replaced.schema(),
            properties: Arc::clone(replaced.properties()),
            ordering: replaced.required_input_ordering(),
            distribution: replaced.input_distribution_requirements(),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for RollingWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        write!(f, "RollingWindowExec: wdw=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for RollingWindowExec {
    fn name(&self) -> &str {
        "RollingWindowExec"
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
        for e in self.partition_by.iter().chain(self.specs.iter().map(|s| &s.value)) {
            if f(e)? == TreeNodeRecursion::Stop {
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
            .ok_or_else(|| DataFusionError::Internal("RollingWindowExec needs one input".into()))?;
        Ok(Arc::new(Self {
            input,
            partition_by: self.partition_by.clone(),
            specs: self.specs.clone(),
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
        let input = self.input.execute(partition, context)?;
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let mut state = Sliding {
            partition_by: self.partition_by.clone(),
            schema: Arc::clone(&self.schema),
            frames: self
                .specs
                .iter()
                .map(|s| Frame {
                    spec: s.clone(),
                    running: Running::default(),
                    held: VecDeque::new(),
                })
                .collect(),
            last_key: None,
        };
        let stream = input.map(move |batch| {
            let batch = batch?;
            let _timer = baseline.elapsed_compute().timer();
            let out = state.next(&batch)?;
            baseline.record_output(out.num_rows());
            Ok(out)
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

/// One expression's state within the current partition.
struct Frame {
    spec: Spec,
    running: Running,
    held: VecDeque<Option<f64>>,
}

impl Frame {
    fn reset(&mut self) {
        self.running = Running::default();
        self.held.clear();
    }

    /// Slide over `values[range]` (one partition's rows), appending each row's result.
    fn slide(&mut self, values: &[f64], valid: Option<&[bool]>, range: std::ops::Range<usize>, out: &mut Out) {
        let spread = self.spec.kind.spread();
        for i in range {
            let v = match valid {
                Some(valid) if !valid[i] => None,
                _ => Some(values[i]),
            };
            if let Some(v) = v {
                self.running.enter_as(v, spread);
            }
            if let Some(n) = self.spec.preceding {
                self.held.push_back(v);
                if self.held.len() > n + 1
                    && let Some(Some(old)) = self.held.pop_front()
                {
                    self.running.leave_as(old, spread);
                }
            }
            match out {
                Out::Count(b) => b.append_value(self.running.value(Kind::Count).unwrap_or(0.0) as i64),
                Out::Value(b) => b.append_option(self.running.value(self.spec.kind)),
            }
        }
    }
}

enum Out {
    Count(Int64Builder),
    Value(Float64Builder),
}

/// The operator's state across the batches of one output partition.
struct Sliding {
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    frames: Vec<Frame>,
    /// The partition key of the previous batch's last row: a batch whose first row has it continues that partition.
    last_key: Option<Vec<ScalarValue>>,
}

impl Sliding {
    fn next(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        if rows == 0 {
            for f in &self.frames {
                columns.push(match f.spec.kind {
                    Kind::Count => Arc::new(Int64Builder::new().finish()),
                    _ => Arc::new(Float64Builder::new().finish()),
                });
            }
            return Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?);
        }
        let keys = self
            .partition_by
            .iter()
            .map(|e| e.evaluate(batch).and_then(|v| v.into_array(rows)))
            .collect::<Result<Vec<_>>>()?;
        let ranges = if keys.is_empty() {
            std::iter::once(0..rows).collect()
        } else {
            partition(&keys)?.ranges()
        };
        let key_at = |row: usize| -> Result<Vec<ScalarValue>> {
            keys.iter().map(|k| ScalarValue::try_from_array(k, row)).collect()
        };
        let continues = match &self.last_key {
            Some(last) => *last == key_at(0)?,
            None => false,
        };
        self.last_key = Some(key_at(rows - 1)?);
        for frame in &mut self.frames {
            let values = frame.spec.value.evaluate(batch)?.into_array(rows)?;
            let values = match values.data_type() {
                DataType::Float64 => values,
                _ => cast(&values, &DataType::Float64)?,
            };
            let values = values.as_primitive::<Float64Type>();
            let valid: Option<Vec<bool>> = values.nulls().map(|n| n.iter().collect());
            let mut out = match frame.spec.kind {
                Kind::Count => Out::Count(Int64Builder::with_capacity(rows)),
                _ => Out::Value(Float64Builder::with_capacity(rows)),
            };
            for (j, range) in ranges.iter().enumerate() {
                if j > 0 || !continues {
                    frame.reset();
                }
                frame.slide(values.values(), valid.as_deref(), range.clone(), &mut out);
            }
            columns.push(match out {
                Out::Count(mut b) => Arc::new(b.finish()),
                Out::Value(mut b) => Arc::new(b.finish()),
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}
