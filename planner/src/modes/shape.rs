//! What a stage's plan does with time: how many rows around a row its windows read, or whether it groups rows into
//! buckets of the event time. Derived from the bound logical plan (views are already inlined), never declared.

use std::collections::{BTreeSet, HashSet};

use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::{
    BinaryExpr, Expr, LogicalPlan, Operator, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition,
};

/// How a stage's rows depend on its inputs' rows, in event-time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Each output row comes from input rows at its own event time, plus the rows its windows read: `before` and
    /// `after` rows of the same `partition` (`None`: all of them).
    Rows {
        /// Rows before each row that the windows read, at most; `None` for all earlier rows.
        before: Option<u64>,
        /// Rows after each row that the windows read, at most; `None` for all later rows.
        after: Option<u64>,
        /// The windows' `PARTITION BY` columns the counts are taken within; empty for the whole table.
        partition: BTreeSet<String>,
    },
    /// Rows are groups of a bucket of the event time (a week, a 5-session bar); the event column is the bucket's
    /// start, so a bucket holds exactly the input rows from its start to the next bucket's.
    Buckets,
    /// The stage cannot be computed for a range; every run recomputes it whole. The reason, for `explain`.
    Whole(String),
}

#[derive(Debug, Clone, Default)]
struct Acc {
    before: Option<u64>,
    after: Option<u64>,
    partition: BTreeSet<String>,
    windows: bool,
    buckets: bool,
    whole: Option<String>,
}

impl Acc {
    fn zero() -> Self {
        Acc {
            before: Some(0),
            after: Some(0),
            ..Default::default()
        }
    }

    fn merge(mut self, other: Acc) -> Acc {
        self.before = max(self.before, other.before);
        self.after = max(self.after, other.after);
        self.partition.extend(other.partition);
        self.windows |= other.windows;
        self.buckets |= other.buckets;
        self.whole = self.whole.or(other.whole);
        self
    }
}

fn max(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(a?.max(b?))
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    a?.checked_add(b?)
}

/// The shape of `plan`, whose inputs' event-time columns are named `event_columns`.
pub fn shape(plan: &LogicalPlan, event_columns: &HashSet<String>) -> Shape {
    let acc = visit(plan, event_columns);
    if let Some(why) = acc.whole {
        return Shape::Whole(why);
    }
    if acc.buckets {
        return Shape::Buckets;
    }
    Shape::Rows {
        before: acc.before,
        after: acc.after,
        partition: acc.partition,
    }
}

fn visit(plan: &LogicalPlan, events: &HashSet<String>) -> Acc {
    let children = plan
        .inputs()
        .into_iter()
        .map(|p| visit(p, events))
        .fold(Acc::zero(), Acc::merge);
    match plan {
        LogicalPlan::Window(window) => {
            let non_null = non_null_columns(&window.input);
            let mut acc = children;
            if acc.buckets {
                acc.whole.get_or_insert_with(|| "a window over buckets".into());
            }
            let (mut before, mut after) = (Some(0), Some(0));
            for expr in &window.window_expr {
                let Some(wf) = window_function(expr) else {
                    continue;
                };
                let (b, a, partition) = window_extent(wf, events, &non_null);
                before = max(before, b);
                after = max(after, a);
                match partition {
                    Some(p) => acc.partition.extend(p),
                    None => {
                        before = None;
                        after = None;
                    }
                }
            }
            acc.before = add(acc.before, before);
            acc.after = add(acc.after, after);
            acc.windows = true;
            acc
        }
        LogicalPlan::Aggregate(agg) => {
            let mut acc = children;
            if agg.group_expr.is_empty() {
                acc.whole.get_or_insert_with(|| "an aggregate without GROUP BY".into());
                return acc;
            }
            let identity = agg
                .group_expr
                .iter()
                .any(|e| matches!(unalias(e), Expr::Column(c) if events.contains(&c.name)));
            // A bucket: a computed grouping key of a date or time column (the table's EVENT TIME is its start).
            let input = agg.input.schema();
            let bucket = agg.group_expr.iter().any(|e| {
                !matches!(unalias(e), Expr::Column(_))
                    && e.column_refs().iter().any(|c| {
                        input
                            .qualified_field_from_column(c)
                            .is_ok_and(|(_, f)| super::time::is_time_type(f.data_type()))
                    })
            });
            if identity {
                // Grouped by the event time itself: a time range holds whole groups.
            } else if bucket {
                if acc.windows {
                    acc.whole.get_or_insert_with(|| "buckets of windowed rows".into());
                }
                acc.buckets = true;
            } else {
                acc.whole
                    .get_or_insert_with(|| "a GROUP BY without a time or time bucket".into());
            }
            acc
        }
        LogicalPlan::Limit(_) => {
            let mut acc = children;
            acc.whole.get_or_insert_with(|| "a LIMIT".into());
            acc
        }
        LogicalPlan::Sort(sort) if sort.fetch.is_some() => {
            let mut acc = children;
            acc.whole.get_or_insert_with(|| "a LIMIT".into());
            acc
        }
        _ => children,
    }
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

fn window_function(e: &Expr) -> Option<&WindowFunction> {
    match unalias(e) {
        Expr::WindowFunction(wf) => Some(wf),
        _ => None,
    }
}

fn literal_u64(e: &Expr) -> Option<u64> {
    match unalias(e) {
        Expr::Literal(v, _) => match v.cast_to(&datafusion::arrow::datatypes::DataType::Int64).ok()? {
            ScalarValue::Int64(Some(n)) if n >= 0 => Some(n as u64),
            _ => None,
        },
        _ => None,
    }
}

fn literal_f64(e: &Expr) -> Option<f64> {
    match unalias(e) {
        Expr::Literal(v, _) => match v.cast_to(&datafusion::arrow::datatypes::DataType::Float64).ok()? {
            ScalarValue::Float64(Some(x)) => Some(x),
            _ => None,
        },
        _ => None,
    }
}

/// Rows before and after each row that one window function reads, and its partition columns (`None` when the
/// partition is not plain columns or the window is not ordered by an event time: rows cannot be mapped to time).
fn window_extent(
    wf: &WindowFunction,
    events: &HashSet<String>,
    non_null: &HashSet<String>,
) -> (Option<u64>, Option<u64>, Option<BTreeSet<String>>) {
    let WindowFunctionParams {
        args,
        partition_by,
        order_by,
        window_frame,
        ..
    } = &wf.params;
    let ordered_by_time = order_by
        .first()
        .is_some_and(|s| matches!(unalias(&s.expr), Expr::Column(c) if events.contains(&c.name)));
    let partition: Option<BTreeSet<String>> = partition_by
        .iter()
        .map(|e| match unalias(e) {
            Expr::Column(c) => Some(c.name.clone()),
            _ => None,
        })
        .collect();
    let partition = partition.filter(|_| ordered_by_time);
    let frame = || match window_frame.units {
        WindowFrameUnits::Rows => {
            let before = match &window_frame.start_bound {
                WindowFrameBound::Preceding(v) => frame_rows(v),
                _ => Some(0),
            };
            let after = match &window_frame.end_bound {
                WindowFrameBound::Following(v) => frame_rows(v),
                _ => Some(0),
            };
            (before, after)
        }
        // By value or by peer groups: only "everything so far" maps to rows.
        _ => match (&window_frame.start_bound, &window_frame.end_bound) {
            (WindowFrameBound::Preceding(s), WindowFrameBound::CurrentRow) if s.is_null() => (None, Some(0)),
            _ => (None, None),
        },
    };
    let (before, after) = match &wf.fun {
        WindowFunctionDefinition::AggregateUDF(_) => frame(),
        WindowFunctionDefinition::WindowUDF(udf) => match udf.name() {
            "lag" => (args.get(1).map_or(Some(1), literal_u64), Some(0)),
            "lead" => (Some(0), args.get(1).map_or(Some(1), literal_u64)),
            "row_number" | "rank" | "dense_rank" => (None, Some(0)),
            "first_value" | "last_value" | "nth_value" => frame(),
            name => match strata_sql::functions::window_columns(name) {
                Some(columns) => {
                    let params: Vec<Option<f64>> = args.iter().skip(columns).map(literal_f64).collect();
                    match strata_sql::functions::window_extent(name, &params) {
                        // Indicators skip rows whose inputs are NULL: their rows count only where the inputs
                        // cannot be NULL.
                        Some(e) if args.iter().take(columns).all(|a| never_null(a, non_null)) => (e.before, e.after),
                        Some(e) => (None, e.after.filter(|a| *a == 0)),
                        None => (None, None),
                    }
                }
                None => (None, None),
            },
        },
    };
    (before, after, partition)
}

/// A ROWS frame bound's row count; `None` when unbounded (or not a count).
fn frame_rows(v: &ScalarValue) -> Option<u64> {
    if v.is_null() {
        return None;
    }
    match v.cast_to(&datafusion::arrow::datatypes::DataType::UInt64).ok()? {
        ScalarValue::UInt64(n) => n,
        _ => None,
    }
}

/// Whether `e` cannot be NULL given columns known not to be: arithmetic and casts of such columns and literals.
fn never_null(e: &Expr, non_null: &HashSet<String>) -> bool {
    match e {
        Expr::Alias(a) => never_null(&a.expr, non_null),
        Expr::Column(c) => non_null.contains(&c.name),
        Expr::Literal(v, _) => !v.is_null(),
        Expr::Cast(c) => never_null(&c.expr, non_null),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            matches!(
                op,
                Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Divide
            ) && never_null(left, non_null)
                && never_null(right, non_null)
        }
        _ => false,
    }
}

/// Columns (by name) of `plan`'s output that cannot be NULL: declared NOT NULL, or filtered by a condition that is
/// false or NULL when they are (a comparison, IS NOT NULL, `ohlc_valid`).
pub fn non_null_columns(plan: &LogicalPlan) -> HashSet<String> {
    match plan {
        LogicalPlan::TableScan(_) | LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => plan
            .schema()
            .fields()
            .iter()
            .filter(|f| !f.is_nullable())
            .map(|f| f.name().clone())
            .collect(),
        LogicalPlan::Filter(filter) => {
            let mut set = non_null_columns(&filter.input);
            for conjunct in datafusion::logical_expr::utils::split_conjunction(&filter.predicate) {
                strict_columns(conjunct, &mut set);
            }
            set
        }
        LogicalPlan::Projection(projection) => {
            let input = non_null_columns(&projection.input);
            projection
                .expr
                .iter()
                .zip(projection.schema.fields())
                .filter(|(e, _)| never_null(e, &input))
                .map(|(_, f)| f.name().clone())
                .collect()
        }
        LogicalPlan::Join(join) if join.join_type == datafusion::logical_expr::JoinType::Inner => {
            let left = non_null_columns(&join.left);
            let right = non_null_columns(&join.right);
            let left_names: HashSet<&String> = join.left.schema().fields().iter().map(|f| f.name()).collect();
            let right_names: HashSet<&String> = join.right.schema().fields().iter().map(|f| f.name()).collect();
            // A name on both sides is non-null only if it is on both.
            left.iter()
                .filter(|n| !right_names.contains(n) || right.contains(*n))
                .chain(right.iter().filter(|n| !left_names.contains(n) || left.contains(*n)))
                .cloned()
                .collect()
        }
        LogicalPlan::SubqueryAlias(_)
        | LogicalPlan::Window(_)
        | LogicalPlan::Sort(_)
        | LogicalPlan::Limit(_)
        | LogicalPlan::Repartition(_)
        | LogicalPlan::Distinct(_) => plan.inputs().first().map(|p| non_null_columns(p)).unwrap_or_default(),
        _ => HashSet::new(),
    }
}

/// Add the columns a filter condition rejects NULLs of.
fn strict_columns(e: &Expr, set: &mut HashSet<String>) {
    match e {
        Expr::IsNotNull(inner) => {
            if let Expr::Column(c) = unalias(inner) {
                set.insert(c.name.clone());
            }
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq,
            right,
        }) => {
            for side in [left, right] {
                if let Expr::Column(c) = unalias(side) {
                    set.insert(c.name.clone());
                }
            }
        }
        // Strata's bar check is false when any of its arguments is NULL.
        Expr::ScalarFunction(f) if f.name() == "ohlc_valid" => {
            for a in &f.args {
                if let Expr::Column(c) = unalias(a) {
                    set.insert(c.name.clone());
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn shape_of(sql: &str) -> Shape {
        let ctx = SessionContext::new();
        strata_sql::functions::register_all(&ctx);
        ctx.sql(
            "CREATE TABLE p (symbol VARCHAR, ts TIMESTAMP, close DOUBLE) AS VALUES ('a', TIMESTAMP '2024-01-01', 1.0)",
        )
        .await
        .unwrap();
        let plan = ctx.sql(sql).await.unwrap().into_unoptimized_plan();
        shape(&plan, &HashSet::from(["ts".to_string()]))
    }

    fn rows(before: Option<u64>, after: Option<u64>) -> Shape {
        Shape::Rows {
            before,
            after,
            partition: BTreeSet::from(["symbol".to_string()]),
        }
    }

    #[tokio::test]
    async fn window_extents_add_up_along_the_plan() {
        let lagged = "SELECT *, lag(close, 2) OVER (PARTITION BY symbol ORDER BY ts) AS l FROM p";
        assert_eq!(shape_of(lagged).await, rows(Some(2), Some(0)));
        let nested = format!(
            "SELECT *, max(close) OVER (PARTITION BY symbol ORDER BY ts ROWS BETWEEN 3 PRECEDING AND 1 FOLLOWING) \
             AS m FROM ({lagged})"
        );
        assert_eq!(shape_of(&nested).await, rows(Some(5), Some(1)));
        // An indicator over a nullable column may skip any number of rows; over a filtered one it reads its period.
        let sma = "SELECT sma(close, 20) OVER (PARTITION BY symbol ORDER BY ts) FROM p";
        assert_eq!(shape_of(sma).await, rows(None, Some(0)));
        let sma = "SELECT sma(close, 20) OVER (PARTITION BY symbol ORDER BY ts) FROM p WHERE close > 0";
        assert_eq!(shape_of(sma).await, rows(Some(19), Some(0)));
        let ema = "SELECT ema(close, 20) OVER (PARTITION BY symbol ORDER BY ts) FROM p WHERE close > 0";
        assert_eq!(shape_of(ema).await, rows(None, Some(0)));
    }

    #[tokio::test]
    async fn groups_are_buckets_identities_or_whole() {
        let weekly = "SELECT symbol, date_trunc('week', ts) AS w, max(close) FROM p GROUP BY 1, 2";
        assert_eq!(shape_of(weekly).await, Shape::Buckets);
        let daily = "SELECT ts, avg(close) FROM p GROUP BY ts";
        assert!(matches!(shape_of(daily).await, Shape::Rows { .. }));
        assert!(matches!(
            shape_of("SELECT symbol, count(*) FROM p GROUP BY symbol").await,
            Shape::Whole(_)
        ));
        assert!(matches!(
            shape_of("SELECT * FROM p ORDER BY ts LIMIT 3").await,
            Shape::Whole(_)
        ));
        let unordered = "SELECT lag(close) OVER (PARTITION BY symbol ORDER BY close) FROM p";
        assert_eq!(
            shape_of(unordered).await,
            Shape::Rows {
                before: None,
                after: None,
                partition: BTreeSet::new()
            }
        );
    }
}
