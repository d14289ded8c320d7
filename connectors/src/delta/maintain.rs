//! Table maintenance: compaction (optionally Z-ordered) and vacuum, on local and object-store tables.
//!
//! Guarantees:
//! - `optimize` is one Delta commit (`OPTIMIZE`) that replaces small files by larger ones holding the same rows; it
//!   deletes nothing, so a reader pinned to an earlier version keeps reading it. Commits race safely with other
//!   writers through the log store's conditional puts; a conflicting commit fails with delta-rs' conflict error.
//! - `vacuum` deletes only files no version within the retention needs: files the log removed longer ago than the
//!   retention, and files no version ever referenced (a failed or retried stage's) that are older than it. A
//!   retention below the table's `delta.deletedFileRetentionDuration` (7 days by default) is refused unless forced,
//!   as a run still writing to the table could otherwise lose its uncommitted files.

use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use serde::Serialize;
use url::Url;

use super::{delta_err, open};
use crate::error::{ConnectorError, Result};

/// What an `optimize` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Optimized {
    /// The table's version after the optimize (unchanged when there was nothing to compact).
    pub version: u64,
    /// Data files of the table before and after.
    pub files_before: usize,
    /// Data files of the table after.
    pub files_after: usize,
    /// Files the commit added and removed.
    pub files_added: u64,
    /// Files the commit removed (logically: they stay for readers of earlier versions until a vacuum).
    pub files_removed: u64,
}

/// Compact the table at `url`: bin-packing by default, or Z-ordered by `zorder_by` (which clusters rows with
/// close values of those columns, `symbol` say, into the same files). `target_size` in bytes (default: the
/// table's `delta.targetFileSize`, else 100 MiB).
pub async fn optimize(url: &Url, zorder_by: &[String], target_size: Option<u64>) -> Result<Optimized> {
    let table = open(url).await?;
    let files_before = file_count(&table, url)?;
    let mut builder = table.optimize().with_type(if zorder_by.is_empty() {
        OptimizeType::Compact
    } else {
        OptimizeType::ZOrder(zorder_by.to_vec())
    });
    if let Some(size) = target_size.and_then(std::num::NonZeroU64::new) {
        builder = builder.with_target_size(size);
    }
    let (table, metrics) = builder.await.map_err(delta_err(url))?;
    Ok(Optimized {
        version: table.version().unwrap_or_default(),
        files_before,
        files_after: file_count(&table, url)?,
        files_added: metrics.num_files_added,
        files_removed: metrics.num_files_removed,
    })
}

/// What a `vacuum` did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vacuumed {
    /// Files deleted (or, dry, to delete), relative to the table root.
    pub files_deleted: Vec<String>,
    /// Whether nothing was deleted because it was a dry run.
    pub dry_run: bool,
}

/// Delete the files of the table at `url` that no version within `retain_hours` needs (default: the table's
/// `delta.deletedFileRetentionDuration`). `force` allows a retention below the table's minimum.
pub async fn vacuum(url: &Url, retain_hours: Option<u64>, force: bool, dry_run: bool) -> Result<Vacuumed> {
    let table = open(url).await?;
    let mut builder = table.vacuum().with_mode(VacuumMode::Full);
    if let Some(hours) = retain_hours {
        // Hours beyond chrono's range are "forever" in effect.
        builder = builder.with_retention_period(chrono::Duration::hours(
            i64::try_from(hours).unwrap_or(i64::MAX / 3_600_000).min(1_000_000_000),
        ));
    }
    let (_, metrics) = builder
        .with_enforce_retention_duration(!force)
        .with_dry_run(dry_run)
        .await
        .map_err(|source| {
            // delta-rs words the refusal but gives it no variant of its own.
            if source.to_string().contains("Invalid retention period") {
                ConnectorError::Unsupported {
                    location: url.to_string(),
                    message: format!(
                        "{source}; pass --force only if no run is writing to the \
                         table (its uncommitted files would be deleted)"
                    ),
                }
            } else {
                delta_err(url)(source)
            }
        })?;
    Ok(Vacuumed {
        files_deleted: metrics.files_deleted,
        dry_run: metrics.dry_run,
    })
}

fn file_count(table: &deltalake::DeltaTable, url: &Url) -> Result<usize> {
    Ok(table.snapshot().map_err(delta_err(url))?.log_data().num_files())
}
