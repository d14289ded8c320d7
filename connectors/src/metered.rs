//! Rows read from a source table, counted where they are read. A job's Delta and PostgreSQL sources are registered
//! as [`MeteredTable`]s: their scans are wrapped in a [`MeteredScanExec`] that adds every batch's rows to
//! [`TABLE_ROWS_READ`](crate::metrics::TABLE_ROWS_READ), labelled with the job and the table's name in it. On a
//! cluster the wrapper crosses the wire with the scan (Strata's codec), so executors count the rows their tasks
//! read and their `/metrics` show them; embedded, the running process counts.
//!
//! The wrapper is transparent to the optimizer: it keeps its scan's properties, statistics and order, and passes
//! repartitioning, limits, projections and filters through to the scan, so a metered plan runs as the bare one
//! would.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Constraints, Statistics};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{CardinalityEffect, ReplaceChildrenOptions};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use metrics::Counter;

/// Which job reads which table: the labels of its rows-read counter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reader {
    /// The job file, as the run names it (`strata_job`).
    pub job: String,
    /// The table's name in the job.
    pub table: String,
}

impl Reader {
    fn counter(&self) -> Counter {
        metrics::counter!(crate::metrics::TABLE_ROWS_READ, "strata_job" => self.job.clone(), "table" => self.table.clone())
    }
}

/// A source table whose scans count the rows they read.
#[derive(Debug)]
pub struct MeteredTable {
    /// The table as its connector provides it.
    pub inner: Arc<dyn TableProvider>,
    /// Whose reads are counted.
    pub reader: Reader,
}

impl MeteredTable {
    /// `inner`, counted as `reader`.
    pub fn new(inner: Arc<dyn TableProvider>, reader: Reader) -> Self {
        Self { inner, reader }
    }
}

#[async_trait]
impl TableProvider for MeteredTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn constraints(&self) -> Option<&Constraints> {
        self.inner.constraints()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_logical_plan(&'_ self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.get_column_default(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let scan = self.inner.scan(state, projection, filters, limit).await?;
        Ok(Arc::new(MeteredScanExec::new(scan, self.reader.clone())))
    }

    async fn scan_with_args<'a>(&self, state: &dyn Session, args: ScanArgs<'a>) -> Result<ScanResult> {
        let scan = self.inner.scan_with_args(state, args).await?.into_inner();
        Ok(ScanResult::new(Arc::new(MeteredScanExec::new(
            scan,
            self.reader.clone(),
        ))))
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }
}

/// A scan whose output rows are counted as read from its table.
#[derive(Debug, Clone)]
pub struct MeteredScanExec {
    input: Arc<dyn ExecutionPlan>,
    reader: Reader,
}

impl MeteredScanExec {
    /// `input` (a table's scan), counted as `reader`.
    pub fn new(input: Arc<dyn ExecutionPlan>, reader: Reader) -> Self {
        Self { input, reader }
    }

    /// Whose reads it counts.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The scan it counts.
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }

    fn around(&self, input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        Arc::new(Self::new(input, self.reader.clone()))
    }
}

impl DisplayAs for MeteredScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "MeteredScanExec: table={}", self.reader.table)
    }
}

impl ExecutionPlan for MeteredScanExec {
    fn name(&self) -> &str {
        "MeteredScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
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
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(self.around(input)),
            _ => Err(DataFusionError::Internal("MeteredScanExec needs one input".into())),
        }
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(datafusion::physical_plan::execution_plan::ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let counter = self.reader.counter();
        let counted = input.inspect(move |batch| {
            if let Ok(batch) = batch {
                counter.increment(batch.num_rows() as u64);
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, counted)))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        input_stats
            .first()
            .cloned()
            .ok_or_else(|| DataFusionError::Internal("MeteredScanExec has one input".into()))
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        config: &ConfigOptions,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        Ok(self
            .input
            .repartitioned(target_partitions, config)?
            .map(|input| self.around(input)))
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn with_fetch(&self, limit: Option<usize>) -> Option<Arc<dyn ExecutionPlan>> {
        self.input.with_fetch(limit).map(|input| self.around(input))
    }

    fn fetch(&self) -> Option<usize> {
        self.input.fetch()
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    fn try_swapping_with_projection(&self, projection: &ProjectionExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        Ok(self
            .input
            .try_swapping_with_projection(projection)?
            .map(|input| self.around(input)))
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }
}
