//! Range-only rewrites (Delta's `replaceWhere`): a run that recomputes one event-time range of a table removes only
//! the files whose rows can fall in that range and adds the files it wrote; every other file stays as it is.
//!
//! Which files a range touches is decided from each file's column statistics, conservatively: a file without
//! statistics for the column, or with NULLs in it, counts as touched. The rows of a touched file outside the range
//! are written again by the run (the planner reads them), so removing the whole file loses nothing.

use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TableReference};
use deltalake::kernel::{Action, Add, Remove, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};

use super::files::DataFile;
use super::write_exec::WriteTarget;
use super::{WriteOutcome, delta_err};
use crate::error::{ConnectorError, Result};

/// One data file of a table, with the statistics of one column.
#[derive(Debug, Clone)]
pub struct FileRange {
    /// The data file.
    pub file: DataFile,
    /// The `remove` action that drops the file in a rewrite.
    pub remove: Remove,
    /// The column's smallest and largest value as the statistics write them (`2024-01-31`,
    /// `2024-01-31T00:00:00.000Z`); `None` when the file has no statistics for it.
    pub min: Option<String>,
    /// The column's largest value, written like `min`.
    pub max: Option<String>,
    /// The column's null count in the file; `None` when the file has no statistics for it.
    pub nulls: Option<u64>,
}

/// The files of `table`'s loaded version with the statistics of `column`.
pub fn column_ranges(table: &DeltaTable, column: &str) -> Result<Vec<FileRange>> {
    let url = table.table_url().clone();
    let snapshot = table.snapshot().map_err(delta_err(&url))?;
    let mut out = Vec::new();
    for view in snapshot.log_data() {
        if view.deletion_vector_descriptor().is_some() {
            return Err(ConnectorError::Unsupported {
                location: url.to_string(),
                message: "range rewrites of tables with deletion vectors are not supported".into(),
            });
        }
        let stats: Option<serde_json::Value> = view.stats().and_then(|s| serde_json::from_str(&s).ok());
        let value = |kind: &str| {
            stats
                .as_ref()
                .and_then(|s| s.get(kind))
                .and_then(|v| v.get(column))
                .cloned()
        };
        let text = |v: Option<serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        out.push(FileRange {
            file: DataFile {
                path: view.object_store_path().to_string(),
                size: view.size().max(0) as u64,
                partition_values: view.partition_values_map(),
                stats: view.stats(),
            },
            remove: view.remove_action(true),
            min: text(value("minValues")),
            max: text(value("maxValues")),
            nulls: value("nullCount").and_then(|v| v.as_u64()),
        });
    }
    Ok(out)
}

/// What a range rewrite replaces: the files it touches in the version it was planned against.
#[derive(Debug, Clone)]
pub struct Replace {
    /// The table's root.
    pub table_url: url::Url,
    /// The version the rewrite was planned against; the commit is built on it.
    pub version: u64,
    /// The `remove` actions of the touched files.
    pub removes: Vec<Remove>,
    /// The files left as they are: with the files the run writes, they make up the table's new version.
    pub untouched: Vec<DataFile>,
    /// The rewritten range, recorded as the commit's predicate.
    pub predicate: String,
}

/// Commit a range rewrite: remove the touched files and add the written ones, in one commit. The commit is built
/// on the planned version, so a writer that removed one of those files in between makes it fail as a conflict
/// instead of resurrecting or duplicating rows.
pub async fn replace_files(
    target: &WriteTarget,
    adds: Vec<Add>,
    rows: u64,
    replace: &Replace,
    transactions: Vec<Transaction>,
) -> Result<WriteOutcome> {
    let url = &target.table_url;
    let mut table = super::open(url).await?;
    let current = table.version();
    if adds.is_empty() && replace.removes.is_empty() && transactions.is_empty() {
        let version = current.ok_or_else(|| ConnectorError::Missing {
            location: url.to_string(),
        })?;
        return Ok(WriteOutcome { version, rows: 0 });
    }
    if current != Some(replace.version) {
        table.load_version(replace.version).await.map_err(delta_err(url))?;
    }
    let snapshot = table.snapshot().map_err(delta_err(url))?;
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: (!target.partition_columns.is_empty()).then(|| target.partition_columns.clone()),
        predicate: Some(replace.predicate.clone()),
    };
    let removed = replace.removes.len();
    let added = adds.len();
    let actions: Vec<Action> = replace
        .removes
        .iter()
        .cloned()
        .map(Action::Remove)
        .chain(adds.into_iter().map(Action::Add))
        .collect();
    let properties = CommitProperties::default().with_application_transactions(transactions);
    let done = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(snapshot as &dyn TableReference), table.log_store(), operation)
        .await
        .map_err(delta_err(url))?;
    let version = done.version();
    tracing::debug!(table = %url, version, rows, removed, added, "committed a range rewrite");
    Ok(WriteOutcome { version, rows })
}
