//! Turning "n rows before" and "the bucket holding t" into event times, with the table's committed rows.
//!
//! Counting on the table's own rows is safe: a window's input holds at least the rows the table kept, so the n-th
//! row back among the table's rows is no later than the n-th row back among the window's input. A partition with
//! fewer than n rows on that side needs all of them: the bound is then open.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{ExprFunctionExt, LogicalPlan, SortExpr, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};

use super::time::{self, TimeRange};
use crate::error::Result;

/// The latest event time in a source, as of the snapshot the run reads. With a `hint` from the source's
/// statistics (microseconds, within [`HINT_SLACK`] of the truth), only rows from just below it are read — the
/// files whose statistics can hold them, a few of a long history — and the full scan runs only when that finds
/// nothing (a hint above every row).
pub async fn max_time(
    ctx: &SessionContext,
    provider: Arc<dyn TableProvider>,
    column: &str,
    hint: Option<i64>,
) -> Result<Option<i64>> {
    let ty = provider
        .schema()
        .field_with_name(column)
        .map_err(datafusion::error::DataFusionError::from)?
        .data_type()
        .clone();
    let latest = |floor: Option<i64>| {
        let (ctx, provider, ty) = (ctx, provider.clone(), ty.clone());
        async move {
            let mut frame = ctx.read_table(provider)?;
            if let Some(floor) = floor {
                frame = frame.filter(col(unqualified(column)).gt_eq(time::literal(floor, &ty)?))?;
            }
            let batches = frame
                .aggregate(vec![], vec![max(col(unqualified(column))).alias("m")])?
                .collect()
                .await?;
            Ok::<_, crate::error::PlannerError>(first_value(&batches).and_then(|v| time::to_micros(&v, true)))
        }
    };
    if let Some(hint) = hint
        && let Some(found) = latest(Some(hint.saturating_sub(HINT_SLACK))).await?
    {
        return Ok(Some(found));
    }
    latest(None).await
}

/// How far a statistic may be from the value it describes: Delta writers truncate (or round up) timestamps to
/// milliseconds.
pub const HINT_SLACK: i64 = 1_000;

fn unqualified(name: &str) -> datafusion::common::Column {
    datafusion::common::Column::new_unqualified(name)
}

fn first_value(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Option<ScalarValue> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let v = ScalarValue::try_from_array(batch.column(0), 0).ok()?;
    (!v.is_null()).then_some(v)
}

fn column_type(table: &LogicalPlan, column: &str) -> Result<datafusion::arrow::datatypes::DataType> {
    Ok(table
        .schema()
        .as_arrow()
        .field_with_name(column)
        .map_err(datafusion::error::DataFusionError::from)?
        .data_type()
        .clone())
}

/// Whole buckets around `input`: from the start of the bucket holding its start to the end of the bucket holding
/// its end (the microsecond before the next bucket's start).
pub async fn bucket_range(
    ctx: &SessionContext,
    table: &LogicalPlan,
    column: &str,
    input: TimeRange,
) -> Result<TimeRange> {
    let ty = column_type(table, column)?;
    let frame = || DataFrame::new(ctx.state(), table.clone());
    let lo = match input.lo {
        None => None,
        Some(lo) => {
            let batches = frame()
                .filter(col(unqualified(column)).lt_eq(time::literal(lo, &ty)?))?
                .aggregate(vec![], vec![max(col(unqualified(column)))])?
                .collect()
                .await?;
            first_value(&batches).and_then(|v| time::to_micros(&v, false))
        }
    };
    let hi = match input.hi {
        None => None,
        Some(hi) => {
            let batches = frame()
                .filter(col(unqualified(column)).gt(time::literal(hi, &ty)?))?
                .aggregate(vec![], vec![min(col(unqualified(column)))])?
                .collect()
                .await?;
            first_value(&batches)
                .and_then(|v| time::to_micros(&v, false))
                .map(|next| next - 1)
        }
    };
    Ok(TimeRange { lo, hi })
}

/// Row counts to times, per partition, on a table's committed rows.
pub struct Rows<'a> {
    pub ctx: &'a SessionContext,
    pub table: &'a LogicalPlan,
    pub column: &'a str,
    pub partition: &'a BTreeSet<String>,
}

impl Rows<'_> {
    /// The earliest time among the `n` distinct times before `t` in every partition; `None` (the beginning) if a
    /// partition has fewer.
    pub async fn before(&self, t: i64, n: u64) -> Result<Option<i64>> {
        if n == 0 {
            return Ok(Some(t));
        }
        self.nth(t, n, false).await
    }

    /// The latest time among the `n` distinct times after `t` in every partition; `None` (the end) if a partition
    /// has fewer.
    pub async fn after(&self, t: i64, n: u64) -> Result<Option<i64>> {
        if n == 0 {
            return Ok(Some(t));
        }
        self.nth(t, n, true).await
    }

    async fn nth(&self, t: i64, n: u64, forward: bool) -> Result<Option<i64>> {
        let ty = column_type(self.table, self.column)?;
        let time = || col(unqualified(self.column));
        let bound = time::literal(t, &ty)?;
        let keys: Vec<_> = self.partition.iter().map(|p| col(unqualified(p))).collect();
        let mut selected = keys.clone();
        selected.push(time());
        let rank = row_number()
            .partition_by(keys.clone())
            .order_by(vec![SortExpr::new(time(), forward, false)])
            .build()?
            .alias("__strata_rank");
        let edge = if forward { max(time()) } else { min(time()) };
        let batches = DataFrame::new(self.ctx.state(), self.table.clone())
            .filter(if forward { time().gt(bound) } else { time().lt(bound) })?
            .select(selected)?
            .distinct()?
            .window(vec![rank])?
            .filter(col("__strata_rank").lt_eq(lit(n)))?
            .aggregate(
                keys,
                vec![edge.alias("__strata_edge"), count(lit(1)).alias("__strata_rows")],
            )?
            .collect()
            .await?;
        let mut result: Option<i64> = None;
        for batch in &batches {
            let (Some(edges), Some(rows)) = (
                batch.column_by_name("__strata_edge"),
                batch.column_by_name("__strata_rows"),
            ) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                let rows = ScalarValue::try_from_array(rows, i)?;
                let full = matches!(rows, ScalarValue::Int64(Some(c)) if c as u64 >= n);
                if !full || edges.is_null(i) {
                    return Ok(None);
                }
                let Some(v) = time::to_micros(&ScalarValue::try_from_array(edges, i)?, forward) else {
                    return Ok(None);
                };
                result = Some(match result {
                    None => v,
                    Some(r) if forward => r.max(v),
                    Some(r) => r.min(v),
                });
            }
        }
        // No rows on that side leaves the bound open: rows the table dropped might be there.
        Ok(result)
    }
}
