//! The table a materialized stage exposes to the stages that read it: the rows themselves (embedded engine) or
//! the uncommitted Delta files the stage's tasks wrote (cluster), which any executor can read.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::project_schema;
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use deltalake::kernel::Add;

use crate::delta::files::{DataFile, DeltaFiles};

/// A stage's output: its schema is known when the job is planned, its rows once the stage has run. Downstream
/// plans are built against it before anything runs and read the rows when they execute.
#[derive(Debug)]
pub struct StageTable {
    schema: SchemaRef,
    partitions: RwLock<Vec<Vec<RecordBatch>>>,
    files: RwLock<Option<DeltaFiles>>,
}

impl StageTable {
    /// An empty stage output with `schema`: the stage's rows or files are added once it has run.
    pub fn new(schema: SchemaRef) -> Self {
        Self {
            schema,
            partitions: RwLock::new(Vec::new()),
            files: RwLock::new(None),
        }
    }

    /// Add files a stage wrote (uncommitted) to the table at `table_url`.
    pub fn append_files(&self, table_url: &url::Url, partition_columns: &[String], adds: &[Add]) -> Result<()> {
        self.append_data_files(table_url, partition_columns, adds.iter().map(DataFile::from))
    }

    /// Add committed files the stage's output keeps (a range rewrite's untouched files).
    pub fn append_data_files(
        &self,
        table_url: &url::Url,
        partition_columns: &[String],
        data: impl IntoIterator<Item = DataFile>,
    ) -> Result<()> {
        let mut guard = self.files.write().map_err(|_| poisoned())?;
        let files = guard.get_or_insert_with(|| DeltaFiles {
            table_url: table_url.clone(),
            schema: self.schema.clone(),
            partition_columns: partition_columns.to_vec(),
            files: Vec::new(),
        });
        files.files.extend(data);
        Ok(())
    }

    /// The files this stage's output lives in, once written (cluster runs).
    pub fn files(&self) -> Result<Option<DeltaFiles>> {
        Ok(self.files.read().map_err(|_| poisoned())?.clone())
    }

    /// Add the partitions a stage produced (a table's query, then any inserts into it).
    pub fn append(&self, partitions: Vec<Vec<RecordBatch>>) -> Result<()> {
        let mut checked = Vec::with_capacity(partitions.len());
        for part in partitions {
            let batches = part
                .into_iter()
                .map(|b| crate::conform::conform(b, &self.schema))
                .collect::<Result<Vec<_>, _>>()?;
            checked.push(batches);
        }
        let mut guard = self.partitions.write().map_err(|_| poisoned())?;
        guard.extend(checked);
        Ok(())
    }

    /// Every batch, in order.
    pub fn batches(&self) -> Result<Vec<RecordBatch>> {
        let guard = self.partitions.read().map_err(|_| poisoned())?;
        Ok(guard.iter().flatten().cloned().collect())
    }
}

fn poisoned() -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Internal("stage table lock poisoned".into())
}

#[async_trait]
impl TableProvider for StageTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(files) = self.files()? {
            return files.scan(state, projection, filters, limit).await;
        }
        let partitions = self.partitions.read().map_err(|_| poisoned())?.clone();
        if partitions.is_empty() {
            // Not run yet (explain, validate): an empty scan of the right shape.
            return crate::delta::files::empty_scan(project_schema(&self.schema, projection)?);
        }
        MemTable::try_new(self.schema.clone(), partitions)?
            .scan(state, projection, filters, limit)
            .await
    }
}
