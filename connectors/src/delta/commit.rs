//! The coordinator's half of a parallel write: decide the schema files are written with, then commit the files
//! every task wrote as one Delta commit per table.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use deltalake::delta_datafusion::DataFusionMixins;
use deltalake::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake::kernel::schema::cast::normalize_for_delta;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Add, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder};
use url::Url;

use super::write_exec::WriteTarget;
use super::{WriteMode, WriteOutcome, delta_err, table_url};
use crate::error::{ConnectorError, Result};

/// The Arrow schema a Delta table records for `arrow` (microsecond timestamps, plain strings, …).
pub fn delta_schema(arrow: &SchemaRef) -> Result<(StructType, SchemaRef)> {
    let normalized = normalize_for_delta(arrow);
    let kernel: StructType = normalized
        .as_ref()
        .try_into_kernel()
        .map_err(|e| datafusion::error::DataFusionError::ArrowError(Box::new(e), None))?;
    let back: Schema = (&kernel)
        .try_into_arrow()
        .map_err(|e| datafusion::error::DataFusionError::ArrowError(Box::new(e), None))?;
    Ok((kernel, Arc::new(back)))
}

/// The table at `url`, loaded when it exists (an object-store table not written yet is no error).
pub(crate) async fn load(url: &Url) -> Result<DeltaTable> {
    let mut table = DeltaTableBuilder::from_url(table_url(url)?)
        .and_then(|b| b.build())
        .map_err(delta_err(url))?;
    if table.verify_deltatable_existence().await.map_err(delta_err(url))? {
        table.load().await.map_err(delta_err(url))?;
    }
    Ok(table)
}

/// Where and how the tasks of a write put their files: appends to an existing table keep its schema and
/// partitioning; anything else writes the stage's schema.
pub async fn write_target(
    url: &Url,
    schema: &SchemaRef,
    partition_by: &[String],
    mode: WriteMode,
) -> Result<WriteTarget> {
    let table = load(url).await?;
    if mode == WriteMode::Append && table.version().is_some() {
        let snapshot = table.snapshot().map_err(delta_err(url))?;
        return Ok(WriteTarget {
            table_url: table_url(url)?,
            table_schema: snapshot.snapshot().input_schema(),
            partition_columns: snapshot.metadata().partition_columns().to_vec(),
        });
    }
    Ok(WriteTarget {
        table_url: table_url(url)?,
        table_schema: delta_schema(schema)?.1,
        partition_columns: partition_by.to_vec(),
    })
}

/// Commit the files of one table in a single Delta commit. `Overwrite` replaces every current file (and the schema),
/// `Append` adds to them; a table that does not exist yet is created by this commit. `transactions` (a Kafka
/// source's next offsets) are part of the same commit.
pub async fn commit_files(
    target: &WriteTarget,
    adds: Vec<Add>,
    rows: u64,
    mode: WriteMode,
    transactions: Vec<Transaction>,
) -> Result<WriteOutcome> {
    let properties = CommitProperties::default().with_application_transactions(transactions);
    let url = &target.table_url;
    let table = load(url).await?;
    let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
    let exists = table.version().is_some();
    let version = if mode == WriteMode::Overwrite || !exists {
        let (kernel, _) = delta_schema(&target.table_schema)?;
        let created = table
            .create()
            .with_save_mode(SaveMode::Overwrite)
            .with_columns(kernel.fields().cloned())
            .with_partition_columns(target.partition_columns.clone())
            .with_actions(actions)
            .with_commit_properties(properties)
            .await
            .map_err(delta_err(url))?;
        created.version()
    } else {
        let snapshot = table.snapshot().map_err(delta_err(url))?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!target.partition_columns.is_empty()).then(|| target.partition_columns.clone()),
            predicate: None,
        };
        let done = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot as &dyn TableReference), table.log_store(), operation)
            .await
            .map_err(delta_err(url))?;
        Some(done.version())
    };
    let version = version.ok_or_else(|| ConnectorError::Missing {
        location: url.to_string(),
    })?;
    tracing::debug!(table = %url, version, rows, "committed files written in parallel");
    Ok(WriteOutcome { version, rows })
}
