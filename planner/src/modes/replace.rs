//! Which of a table's files a range rewrite touches, and the plan that reads the rows it keeps from them.
//!
//! A file is left alone only when its statistics prove every row's event time lies outside the rewritten range
//! (and none is NULL). The rest are removed by the commit; their rows outside the range are read back and written
//! again, as separate files from the recomputed range (the two sides of the stage's UNION are separate
//! partitions), so old history settles into files later runs no longer touch.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use deltalake::DeltaTable;
use strata_connectors::delta::commit::delta_schema;
use strata_connectors::delta::files::DeltaFiles;
use strata_connectors::delta::replace::{self, FileRange, Replace};

use super::time::{self, TimeRange};
use crate::error::Result;

/// A table's files split by a range rewrite, and the commit that replaces the touched ones.
pub(super) struct Touched {
    pub touched: DeltaFiles,
    pub untouched: DeltaFiles,
    pub replace: Replace,
}

/// The files of `table` a rewrite of `range` of `column` touches and leaves alone; `None` when the stage's output
/// cannot go into the table's current files as they are (other columns or types, other partitioning), so the table
/// is rewritten whole.
pub(super) fn touched(
    table: &DeltaTable,
    column: &str,
    range: TimeRange,
    plan: &LogicalPlan,
    partition_by: &[String],
) -> Result<Option<Touched>> {
    let Some(version) = table.version() else {
        return Ok(None);
    };
    let files = match DeltaFiles::from_table(table) {
        Ok(f) => f,
        Err(e @ strata_connectors::ConnectorError::Unsupported { .. }) => {
            tracing::info!(table = %table.table_url(), reason = %e, "rewritten whole");
            return Ok(None);
        }
        Err(e) => return Err(DataFusionError::from(e).into()),
    };
    let output: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let (_, written) = delta_schema(&output).map_err(DataFusionError::from)?;
    // By name: files are written by column name (a table lists its partition columns last).
    let same_columns = written.fields().len() == files.schema.fields().len()
        && written.fields().iter().all(|a| {
            files
                .schema
                .field_with_name(a.name())
                .is_ok_and(|b| a.data_type() == b.data_type())
        });
    if !same_columns || files.partition_columns != partition_by {
        tracing::info!(table = %table.table_url(), same_columns, "rewritten whole: the output does not fit the table's files");
        tracing::debug!(written = ?written, table = ?files.schema, "schemas");
        return Ok(None);
    }
    let ty = output
        .field_with_name(column)
        .map(|f| f.data_type().clone())
        .map_err(DataFusionError::from)?;
    let mut kept = Vec::new();
    let mut removes = Vec::new();
    let mut untouched = Vec::new();
    for f in replace::column_ranges(table, column).map_err(DataFusionError::from)? {
        if may_overlap(&f, range, &ty) {
            kept.push(f.file);
            removes.push(f.remove);
        } else {
            untouched.push(f.file);
        }
    }
    let replace = Replace {
        table_url: files.table_url.clone(),
        version,
        removes,
        untouched: untouched.clone(),
        predicate: format!("{column} in {}", range.describe()),
    };
    Ok(Some(Touched {
        touched: DeltaFiles {
            files: kept,
            ..files.clone()
        },
        untouched: DeltaFiles {
            files: untouched,
            ..files
        },
        replace,
    }))
}

/// Whether a file can hold rows of `range` (or NULL event times): true unless its statistics say otherwise.
fn may_overlap(file: &FileRange, range: TimeRange, ty: &DataType) -> bool {
    if file.nulls != Some(0) {
        return true;
    }
    let (Some(min), Some(max)) = (
        file.min.as_deref().and_then(|s| stat_time(s, false, ty)),
        file.max.as_deref().and_then(|s| stat_time(s, true, ty)),
    ) else {
        return true;
    };
    let below = range.lo.is_some_and(|lo| max < lo);
    let above = range.hi.is_some_and(|hi| min > hi);
    !(below || above)
}

/// A statistic as microseconds, widened outwards: Delta statistics keep timestamps to the millisecond, so the
/// largest value may be up to 999 µs later than written.
fn stat_time(text: &str, upper: bool, ty: &DataType) -> Option<i64> {
    let micros = time::parse_time(text, upper).or_else(|| {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().timestamp_micros())
    })?;
    let day = matches!(ty, DataType::Date32 | DataType::Date64);
    Some(if upper && !day { micros + 999 } else { micros })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use strata_connectors::delta::files::DataFile;

    fn file(min: &str, max: &str, nulls: Option<u64>) -> FileRange {
        let remove = deltalake::kernel::Remove {
            path: "f.parquet".into(),
            data_change: true,
            deletion_timestamp: None,
            extended_file_metadata: None,
            partition_values: None,
            size: None,
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
        };
        FileRange {
            file: DataFile {
                path: "f.parquet".into(),
                size: 1,
                partition_values: HashMap::new(),
                stats: None,
            },
            remove,
            min: Some(min.into()),
            max: Some(max.into()),
            nulls,
        }
    }

    #[test]
    fn files_outside_the_range_are_left_alone() {
        let range = TimeRange {
            lo: time::parse_time("2024-03-01", false),
            hi: None,
        };
        let date = DataType::Date32;
        assert!(!may_overlap(&file("2023-01-02", "2024-02-29", Some(0)), range, &date));
        assert!(may_overlap(&file("2023-01-02", "2024-03-01", Some(0)), range, &date));
        // NULL event times are always recomputed, and missing statistics prove nothing.
        assert!(may_overlap(&file("2023-01-02", "2024-02-29", Some(1)), range, &date));
        assert!(may_overlap(&file("2023-01-02", "2024-02-29", None), range, &date));
        // A timestamp maximum truncated to the millisecond still counts up to 999 µs later.
        let ts = DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None);
        let at = TimeRange {
            lo: time::parse_time("2024-02-29T23:59:59.999500Z", false),
            hi: None,
        };
        assert!(may_overlap(
            &file("2024-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", Some(0)),
            at,
            &ts
        ));
        assert!(!may_overlap(
            &file("2024-01-01T00:00:00.000", "2024-02-29T23:59:59.998", Some(0)),
            at,
            &ts
        ));
    }
}
