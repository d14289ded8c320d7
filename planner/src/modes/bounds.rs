//! Turning "n rows before" and "the bucket holding t" into event times, with the table's committed rows.
//!
//! Counting on the table's own rows is safe: a window's input holds at least the rows the table kept, so the n-th
//! row back among the table's rows is no later than the n-th row back among the window's input. A partition with
//! fewer than n rows on that side needs all of them: the bound is then open.

use std::collections::{BTreeSet, HashSet};
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

    /// Most partitions have their `n` nearest times close to `t`. The search looks first among the table's
    /// `SLICE_TIMES(n)` distinct times nearest `t` and reads the whole side only when a partition reaches past them
    /// (fewer than `n` times in the slice, rows beyond it): on ten years of daily bars, a few weeks instead of every
    /// row sorted.
    async fn nth(&self, t: i64, n: u64, forward: bool) -> Result<Option<i64>> {
        if let Some(edge) = self.table_edge(t, slice_times(n), forward).await? {
            let slice = self.edges(t, n, forward, Some(edge)).await?;
            let beyond = self.partitions_beyond(edge, forward).await?;
            if beyond.iter().all(|keys| slice.full.contains(keys)) {
                return Ok(slice.bound);
            }
        }
        Ok(self.edges(t, n, forward, None).await?.bound)
    }

    fn time(&self) -> datafusion::logical_expr::Expr {
        col(unqualified(self.column))
    }

    fn keys(&self) -> Vec<datafusion::logical_expr::Expr> {
        self.partition.iter().map(|p| col(unqualified(p))).collect()
    }

    /// The `k`-th distinct time of the whole table on `t`'s side (before it, or after it when `forward`); `None`
    /// when the table has fewer.
    async fn table_edge(&self, t: i64, k: u64, forward: bool) -> Result<Option<i64>> {
        let ty = column_type(self.table, self.column)?;
        let bound = time::literal(t, &ty)?;
        let side = if forward {
            self.time().gt(bound)
        } else {
            self.time().lt(bound)
        };
        let batches = DataFrame::new(self.ctx.state(), self.table.clone())
            .filter(side)?
            .select(vec![self.time()])?
            .distinct()?
            .sort(vec![SortExpr::new(self.time(), forward, false)])?
            .limit(usize::try_from(k.saturating_sub(1)).unwrap_or(usize::MAX), Some(1))?
            .collect()
            .await?;
        Ok(first_value(&batches).and_then(|v| time::to_micros(&v, forward)))
    }

    /// The partitions (their key values) with rows beyond `edge`, away from `t`.
    async fn partitions_beyond(&self, edge: i64, forward: bool) -> Result<HashSet<Vec<ScalarValue>>> {
        let ty = column_type(self.table, self.column)?;
        let edge = time::literal(edge, &ty)?;
        let batches = DataFrame::new(self.ctx.state(), self.table.clone())
            .filter(if forward {
                self.time().gt(edge)
            } else {
                self.time().lt(edge)
            })?
            .aggregate(self.keys(), vec![count(lit(1)).alias("__strata_rows")])?
            .collect()
            .await?;
        let mut keys = HashSet::new();
        for batch in &batches {
            let Some(rows) = batch.column_by_name("__strata_rows") else {
                continue;
            };
            for i in 0..batch.num_rows() {
                // Without partition columns the aggregate has a row even when no row is beyond the edge.
                if !matches!(ScalarValue::try_from_array(rows, i)?, ScalarValue::Int64(Some(c)) if c > 0) {
                    continue;
                }
                keys.insert(row_keys(batch, self.partition.len(), i)?);
            }
        }
        Ok(keys)
    }

    /// Per partition, the `n`-th distinct time from `t` (within `edge`, inclusive, when given); the bound is the
    /// earliest (latest when `forward`) of them, or `None` when a partition has fewer than `n` there.
    async fn edges(&self, t: i64, n: u64, forward: bool, edge: Option<i64>) -> Result<Edges> {
        let ty = column_type(self.table, self.column)?;
        let time = || self.time();
        let bound = time::literal(t, &ty)?;
        let keys = self.keys();
        let mut selected = keys.clone();
        selected.push(time());
        let rank = row_number()
            .partition_by(keys.clone())
            .order_by(vec![SortExpr::new(time(), forward, false)])
            .build()?
            .alias("__strata_rank");
        let edge_value = if forward { max(time()) } else { min(time()) };
        let mut frame = DataFrame::new(self.ctx.state(), self.table.clone()).filter(if forward {
            time().gt(bound)
        } else {
            time().lt(bound)
        })?;
        if let Some(edge) = edge {
            let edge = time::literal(edge, &ty)?;
            frame = frame.filter(if forward {
                time().lt_eq(edge)
            } else {
                time().gt_eq(edge)
            })?;
        }
        let batches = frame
            .select(selected)?
            .distinct()?
            .window(vec![rank])?
            .filter(col("__strata_rank").lt_eq(lit(n)))?
            .aggregate(
                keys,
                vec![edge_value.alias("__strata_edge"), count(lit(1)).alias("__strata_rows")],
            )?
            .collect()
            .await?;
        let mut result: Option<i64> = None;
        let mut open = false;
        let mut full = HashSet::new();
        for batch in &batches {
            let (Some(edges), Some(rows)) = (
                batch.column_by_name("__strata_edge"),
                batch.column_by_name("__strata_rows"),
            ) else {
                continue;
            };
            for i in 0..batch.num_rows() {
                let rows = ScalarValue::try_from_array(rows, i)?;
                let complete = matches!(rows, ScalarValue::Int64(Some(c)) if c as u64 >= n);
                let v = match complete && !edges.is_null(i) {
                    true => time::to_micros(&ScalarValue::try_from_array(edges, i)?, forward),
                    false => None,
                };
                let Some(v) = v else {
                    open = true;
                    continue;
                };
                full.insert(row_keys(batch, self.partition.len(), i)?);
                result = Some(match result {
                    None => v,
                    Some(r) if forward => r.max(v),
                    Some(r) => r.min(v),
                });
            }
        }
        // A partition with fewer than n rows there needs all of them: the bound is open. No rows on that side
        // leaves it open too: rows the table dropped might be there.
        Ok(Edges {
            bound: if open { None } else { result },
            full,
        })
    }
}

/// What [`Rows::edges`] found.
struct Edges {
    /// The bound over every partition.
    bound: Option<i64>,
    /// The partitions that have their `n` times within the searched range.
    full: HashSet<Vec<ScalarValue>>,
}

/// How many of the table's distinct times nearest `t` the first search looks among, for `n` per partition.
fn slice_times(n: u64) -> u64 {
    n.saturating_mul(4).saturating_add(32)
}

/// The first `keys` columns of row `i`.
fn row_keys(batch: &datafusion::arrow::record_batch::RecordBatch, keys: usize, i: usize) -> Result<Vec<ScalarValue>> {
    (0..keys)
        .map(|c| Ok(ScalarValue::try_from_array(batch.column(c), i)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use datafusion::arrow::array::{Date32Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    use super::*;
    use crate::modes::time::DAY;

    /// The bound computed the obvious way: every partition's distinct days on `t`'s side, the n-th nearest.
    fn expected(rows: &[(&str, i32)], t: i32, n: usize, forward: bool) -> Option<i64> {
        let mut days: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
        for &(k, d) in rows {
            if (forward && d > t) || (!forward && d < t) {
                days.entry(k).or_default().insert(d);
            }
        }
        let mut bound: Option<i32> = None;
        for set in days.values() {
            let nth = match forward {
                true => set.iter().nth(n - 1),
                false => set.iter().rev().nth(n - 1),
            };
            let nth = *nth?;
            bound = Some(bound.map_or(nth, |b| if forward { b.max(nth) } else { b.min(nth) }));
        }
        bound.map(|d| d as i64 * DAY + if forward { DAY - 1 } else { 0 })
    }

    async fn computed(rows: &[(&str, i32)], t: i32, n: u64, forward: bool) -> Option<i64> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("day", DataType::Date32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()))
            .unwrap();
        let table = ctx.table("t").await.unwrap().into_unoptimized_plan();
        let partition = BTreeSet::from(["k".to_string()]);
        let rows = Rows {
            ctx: &ctx,
            table: &table,
            column: "day",
            partition: &partition,
        };
        let at = t as i64 * DAY;
        match forward {
            true => rows.after(at + DAY - 1, n).await.unwrap(),
            false => rows.before(at, n).await.unwrap(),
        }
    }

    #[tokio::test]
    async fn nth_times_agree_with_counting_every_partition_whether_or_not_they_reach_past_the_slice() {
        // "dense" trades every day; "sparse" every 40th day, so its n nearest days lie far beyond the table's
        // nearest days; "young" starts at day 950 (fewer than n days before most t: the bound is open), and
        // "gone" stopped at day 100 (no row near t, rows far before it).
        let mut rows: Vec<(&str, i32)> = (0..1000).map(|d| ("dense", d)).collect();
        rows.extend((0..1000).step_by(40).map(|d| ("sparse", d)));
        rows.extend((950..1000).map(|d| ("young", d)));
        rows.extend((0..100).map(|d| ("gone", d)));
        rows.push(("dense", 500)); // a duplicate day counts once
        let subsets: [(&str, Vec<(&str, i32)>); 4] = [
            ("all", rows.clone()),
            ("dense only", rows.iter().filter(|r| r.0 == "dense").cloned().collect()),
            (
                "dense and gone",
                rows.iter()
                    .filter(|r| r.0 == "dense" || r.0 == "gone")
                    .cloned()
                    .collect(),
            ),
            (
                "dense and sparse",
                rows.iter()
                    .filter(|r| r.0 == "dense" || r.0 == "sparse")
                    .cloned()
                    .collect(),
            ),
        ];
        for (name, rows) in &subsets {
            for (t, n) in [(900, 5), (990, 3), (600, 20), (50, 10), (1000, 1), (2, 5)] {
                for forward in [false, true] {
                    assert_eq!(
                        computed(rows, t, n as u64, forward).await,
                        expected(rows, t, n, forward),
                        "{name}: t={t} n={n} forward={forward}"
                    );
                }
            }
        }
    }
}
