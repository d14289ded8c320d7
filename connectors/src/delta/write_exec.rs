//! Parallel Delta writes: every partition of a plan writes its own Parquet files into the table's location and
//! reports the Delta `add` actions for them ([`super::write_result`]), without committing. A coordinator commits all of a table's actions
//! in one Delta commit (see [`super::commit`]), so no data funnels through one task and no executor ever commits.
//!
//! The logical node ([`DeltaWriteNode`]) is what a job's plan carries to the scheduler; [`DeltaWritePlanner`]
//! turns it into [`DeltaWriteExec`] there. Both cross the wire through the codecs in `strata-proto`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use deltalake::DeltaTableBuilder;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::Add;
use deltalake::kernel::schema::cast::cast_record_batch;
use futures::StreamExt;
use url::Url;

use super::write_result::{Execution, WRITE_RESULT_SCHEMA};

/// What a write targets: enough for any process to write files the coordinator can commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteTarget {
    /// The table's root.
    pub table_url: Url,
    /// The schema files are written with (Delta-normalized, partition columns included).
    pub table_schema: SchemaRef,
    /// The table's partition columns, in order.
    pub partition_columns: Vec<String>,
}

/// Logical plan node: write the input's rows as uncommitted files of `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaWriteNode {
    /// The plan whose rows are written.
    pub input: LogicalPlan,
    /// The table they are written for.
    pub target: WriteTarget,
    schema: DFSchemaRef,
}

impl DeltaWriteNode {
    /// A node writing `input` to `target`; its output has one row per written file (`add` as JSON, `rows`).
    pub fn new(input: LogicalPlan, target: WriteTarget) -> Result<Self> {
        let schema = Arc::new(DFSchema::try_from(WRITE_RESULT_SCHEMA.as_ref().clone())?);
        Ok(Self { input, target, schema })
    }

    /// The node as a plan.
    pub fn into_plan(self) -> LogicalPlan {
        LogicalPlan::Extension(datafusion::logical_expr::Extension { node: Arc::new(self) })
    }
}

impl Hash for DeltaWriteNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.target.hash(state);
    }
}

impl PartialOrd for DeltaWriteNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.target
            .table_url
            .partial_cmp(&other.target.table_url)
            .filter(|o| o.is_ne())
    }
}

impl UserDefinedLogicalNodeCore for DeltaWriteNode {
    fn name(&self) -> &str {
        "DeltaWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "DeltaWrite: table={} partition_by=[{}]",
            self.target.table_url,
            self.target.partition_columns.join(", ")
        )
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let input = inputs
            .pop()
            .ok_or_else(|| DataFusionError::Internal("DeltaWrite needs one input".into()))?;
        Self::new(input, self.target.clone())
    }
}

/// Plans [`DeltaWriteNode`] as [`DeltaWriteExec`].
#[derive(Debug, Default)]
pub struct DeltaWritePlanner;

#[async_trait]
impl ExtensionPlanner for DeltaWritePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<DeltaWriteNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal("DeltaWrite needs one input".into()));
        };
        Ok(Some(Arc::new(DeltaWriteExec::new(input.clone(), write.target.clone()))))
    }
}

/// Writes each input partition into uncommitted Delta data files; emits their `add` actions as JSON.
#[derive(Debug)]
pub struct DeltaWriteExec {
    input: Arc<dyn ExecutionPlan>,
    target: WriteTarget,
    properties: Arc<PlanProperties>,
    /// On a Ballista executor, the global output partition of each local one: a task runs a slice of the stage's
    /// partitions as local partitions 0, 1, …, so only these ids tell which rows a write holds.
    slices: Option<Vec<usize>>,
}

impl DeltaWriteExec {
    /// Write each partition of `input` as files of `target`: one output partition per input partition.
    pub fn new(input: Arc<dyn ExecutionPlan>, target: WriteTarget) -> Self {
        let partitions = input.output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(WRITE_RESULT_SCHEMA.clone()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            input,
            target,
            properties,
            slices: None,
        }
    }

    /// The same write, told which global partition each of its local partitions is (Ballista's task slice).
    pub fn with_slices(&self, slices: Vec<usize>) -> Self {
        Self {
            input: self.input.clone(),
            target: self.target.clone(),
            properties: self.properties.clone(),
            slices: Some(slices),
        }
    }

    /// The plan whose rows are written.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    /// The table the files are written for.
    pub fn target(&self) -> &WriteTarget {
        &self.target
    }
}

impl DisplayAs for DeltaWriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeltaWriteExec: table={}", self.target.table_url)
    }
}

impl ExecutionPlan for DeltaWriteExec {
    fn name(&self) -> &str {
        "DeltaWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("DeltaWriteExec needs one input".into()))?;
        let mut write = Self::new(input, self.target.clone());
        write.slices = self.slices.clone();
        Ok(Arc::new(write))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute),
        )
    }

    // Writing is the point: never let the optimizer fold partitions together above the input.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        // Which execution this is: a cluster may deliver a partition's write more than once (see `write_result`).
        let execution = Execution::new(partition, self.slices.as_deref(), context.task_id());
        let input = self.input.execute(partition, context)?;
        let target = self.target.clone();
        let future = async move {
            let (adds, rows) = write_stream(input, &target).await?;
            execution.report(&adds, &rows)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            WRITE_RESULT_SCHEMA.clone(),
            futures::stream::once(future),
        )))
    }
}

/// Parquet settings for a table's files: Snappy (as delta-rs), and no dictionary for floating-point columns —
/// prices and indicators rarely repeat within a page, so building a dictionary only to abandon it cost more than
/// any other part of writing them.
fn writer_properties(schema: &SchemaRef, partition_columns: &[String]) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("strata {} (delta-rs writer)", env!("CARGO_PKG_VERSION")));
    for field in schema.fields() {
        let floating = matches!(
            field.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        );
        if floating && !partition_columns.contains(field.name()) {
            builder = builder.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Write one stream into files under the table root; returns the files' actions and their row counts.
pub async fn write_stream(mut input: SendableRecordBatchStream, target: &WriteTarget) -> Result<(Vec<Add>, Vec<u64>)> {
    let table = DeltaTableBuilder::from_url(target.table_url.clone())
        .and_then(|b| b.build())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let store = table.log_store().object_store(None);
    let config = WriterConfig::new(
        target.table_schema.clone(),
        target.partition_columns.clone(),
        Some(writer_properties(&target.table_schema, &target.partition_columns)),
        None,
        None,
        Default::default(),
        None,
    );
    let mut writer = DeltaWriter::new(store, config);
    while let Some(batch) = input.next().await {
        let written = match batch {
            Ok(batch) if batch.num_rows() == 0 => Ok(()),
            Ok(batch) => match cast_record_batch(&batch, target.table_schema.clone(), false, true) {
                Ok(batch) => writer.write(&batch).await,
                Err(e) => Err(e),
            },
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e);
            }
        };
        if let Err(e) = written {
            let _ = writer.abort().await;
            return Err(DataFusionError::External(Box::new(e)));
        }
    }
    let adds = writer
        .close()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let rows = adds.iter().map(add_rows).collect::<Result<Vec<_>>>()?;
    tracing::debug!(table = %target.table_url, files = adds.len(), "wrote uncommitted Delta files");
    Ok((adds, rows))
}

/// Rows in a file, from the `numRecords` statistic the writer records.
fn add_rows(add: &Add) -> Result<u64> {
    let stats = add
        .stats
        .as_deref()
        .ok_or_else(|| DataFusionError::Internal(format!("no statistics for written file {}", add.path)))?;
    let value: serde_json::Value = serde_json::from_str(stats).map_err(|e| DataFusionError::External(Box::new(e)))?;
    value
        .get("numRecords")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| DataFusionError::Internal(format!("no numRecords for written file {}", add.path)))
}
