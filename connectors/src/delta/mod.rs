//! Delta Lake tables: open, expose to DataFusion, and write one commit per table — either from batches in
//! memory (the embedded engine) or from files that tasks wrote in parallel ([`write_exec`] + [`commit`]).

pub mod commit;
pub mod file_stats;
pub mod files;
pub mod maintain;
pub mod replace;
pub mod stats;
pub mod write_exec;
pub mod write_result;

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::execution::SessionState;
use deltalake::delta_datafusion::DeltaTableFactory;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use url::Url;

use crate::error::{ConnectorError, Result};
use crate::location::local_path;

/// How a write treats the table's previous contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace all rows; the schema and partitioning may change.
    Overwrite,
    /// Add rows; the table is created if it does not exist.
    Append,
}

/// What a committed write produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The table version the commit created (the current one when there was nothing to commit).
    pub version: u64,
    /// Rows written.
    pub rows: u64,
}

pub(crate) fn delta_err(url: &Url) -> impl FnOnce(DeltaTableError) -> ConnectorError + '_ {
    move |source| match source {
        DeltaTableError::NotATable(_) => ConnectorError::NotDelta {
            location: url.to_string(),
        },
        DeltaTableError::InvalidTableLocation(_) => ConnectorError::Missing {
            location: url.to_string(),
        },
        source => ConnectorError::Delta {
            location: url.to_string(),
            source,
        },
    }
}

/// Install `STORED AS DELTA` for `CREATE EXTERNAL TABLE` issued through plain SQL.
pub fn register_table_factory(state: &mut SessionState) {
    state
        .table_factories_mut()
        .insert("DELTA".to_string(), Arc::new(DeltaTableFactory {}));
}

/// The URL delta-rs uses for a table (local directories made absolute, with a trailing slash).
pub(crate) fn table_url(url: &Url) -> Result<Url> {
    match local_path(url) {
        Some(path) => deltalake::ensure_table_uri(path.to_string_lossy()).map_err(delta_err(url)),
        None => Ok(url.clone()),
    }
}

/// Open the Delta table at `url`; a missing directory or one without a Delta log is an error that says so.
pub async fn open(url: &Url) -> Result<DeltaTable> {
    if let Some(path) = local_path(url)
        && !path.exists()
    {
        return Err(ConnectorError::Missing {
            location: path.display().to_string(),
        });
    }
    deltalake::open_table(url.clone()).await.map_err(delta_err(url))
}

/// The table's current version, or `None` when there is no Delta table at `url`.
pub async fn version(url: &Url) -> Result<Option<u64>> {
    match open(url).await {
        Ok(t) => Ok(t.version()),
        Err(ConnectorError::Missing { .. } | ConnectorError::NotDelta { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A DataFusion provider pinned to the table's loaded version, reading with `state`'s options.
pub async fn provider(table: &DeltaTable, state: &SessionState) -> Result<Arc<dyn TableProvider>> {
    Ok(table.table_provider().with_session(Arc::new(state.clone())).await?)
}

/// Partition columns of an open table.
pub fn partition_columns(table: &DeltaTable) -> Result<Vec<String>> {
    let url = table.table_url().clone();
    let snapshot = table.snapshot().map_err(delta_err(&url))?;
    Ok(snapshot.metadata().partition_columns().to_vec())
}

/// Write `batches` to the table at `url` in one Delta commit, creating the table if needed.
///
/// All batches are given `schema` first: delta-rs expects one schema for the whole write.
pub async fn write(
    url: &Url,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    partition_by: &[String],
    mode: WriteMode,
) -> Result<WriteOutcome> {
    write_with_transactions(url, schema, batches, partition_by, mode, Vec::new()).await
}

/// [`write`], with application transactions (a Kafka source's next offsets) in the same commit.
pub async fn write_with_transactions(
    url: &Url,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    partition_by: &[String],
    mode: WriteMode,
    transactions: Vec<Transaction>,
) -> Result<WriteOutcome> {
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut input = Vec::with_capacity(batches.len().max(1));
    for b in batches {
        if b.num_rows() > 0 {
            input.push(crate::conform::conform(b, &schema)?);
        }
    }
    if input.is_empty() {
        input.push(RecordBatch::new_empty(schema.clone()));
    }
    let table_url = table_url(url)?;
    let has_log = local_path(url).map(|p| p.join("_delta_log").is_dir());
    let table = if has_log == Some(false) {
        // A new local table: skip the load attempt (and the kernel's error log about an empty log).
        deltalake::DeltaTableBuilder::from_url(table_url)
            .map_err(delta_err(url))?
            .build()
            .map_err(delta_err(url))?
    } else {
        commit::load(url).await?
    };
    let exists = table.version().is_some();
    let mut builder = table
        .write(input)
        .with_commit_properties(CommitProperties::default().with_application_transactions(transactions));
    builder = match mode {
        WriteMode::Overwrite => builder
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(SchemaMode::Overwrite)
            .with_partition_columns(partition_by.to_vec()),
        WriteMode::Append if exists => builder.with_save_mode(SaveMode::Append),
        WriteMode::Append => builder
            .with_save_mode(SaveMode::Append)
            .with_partition_columns(partition_by.to_vec()),
    };
    let table = builder.await.map_err(delta_err(url))?;
    let version = table.version().ok_or_else(|| ConnectorError::Missing {
        location: url.to_string(),
    })?;
    tracing::debug!(table = %url, version, rows, "committed Delta write");
    Ok(WriteOutcome { version, rows })
}
