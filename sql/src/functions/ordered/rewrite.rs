//! Ordered `first_value` / `last_value` in a GROUP BY — how plain SQL writes a bar's open and close — planned as
//! `min_by` / `max_by` with the same NULL ordering, so they run on the vectorized accumulator
//! ([`super::groups`]) instead of DataFusion's, which keeps every group's order key as `ScalarValue`s.
//!
//! The rewrite is exact: the winning row is the one the ordering puts first (last), NULL keys on the side the
//! ordering puts them (`nulls_win`), and a group whose keys are all NULL still yields a row. Rows with equal keys
//! are a tie either way (SQL leaves their order undefined). Only aggregates with one ORDER BY key, no FILTER, no
//! DISTINCT and no IGNORE NULLS, over value and key types the accumulator takes, are rewritten; the rest stay.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::functions_aggregate::first_last::{FirstValue, LastValue};
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams, NullTreatment};
use datafusion::logical_expr::{Aggregate, AggregateUDF, Expr, ExprSchemable, LogicalPlan, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::groups;
use super::keys;
use crate::functions::exprs::{named_as, rewrite_each, unaliased};

/// The optimizer rule; every Strata session installs it (`strata_sql::functions::optimizer_rules`).
#[derive(Debug)]
pub struct OrderedFirstLast {
    min_by: Arc<AggregateUDF>,
    max_by: Arc<AggregateUDF>,
}

impl Default for OrderedFirstLast {
    fn default() -> Self {
        Self {
            min_by: Arc::new(AggregateUDF::from(super::min_by::min_by())),
            max_by: Arc::new(AggregateUDF::from(super::max_by::max_by())),
        }
    }
}

impl OrderedFirstLast {
    /// `e` as `min_by` / `max_by` under its own name, when it is an ordered `first_value` / `last_value` the
    /// accumulator can run.
    fn rewrite_expr(&self, e: &Expr, input: &DFSchema) -> Result<Option<Expr>> {
        let inner = unaliased(e);
        let Expr::AggregateFunction(AggregateFunction { func, params }) = inner else {
            return Ok(None);
        };
        let first = func.inner().is::<FirstValue>();
        if !(first || func.inner().is::<LastValue>()) {
            return Ok(None);
        }
        let AggregateFunctionParams {
            args,
            distinct,
            filter,
            order_by,
            null_treatment,
        } = params;
        if *distinct
            || filter.is_some()
            || args.len() != 1
            || order_by.len() != 1
            || matches!(null_treatment, Some(NullTreatment::IgnoreNulls))
        {
            return Ok(None);
        }
        let sort = &order_by[0];
        if !(groups::supported(&args[0].get_type(input)?) && keys::encodable(&sort.expr.get_type(input)?)) {
            return Ok(None);
        }
        // first_value takes the row the ordering puts first, last_value the one it puts last; NULL keys win when
        // the ordering puts them on that side.
        let (by, nulls_win) = match (first, sort.asc) {
            (true, true) => (&self.min_by, sort.nulls_first),
            (true, false) => (&self.max_by, sort.nulls_first),
            (false, true) => (&self.max_by, !sort.nulls_first),
            (false, false) => (&self.min_by, !sort.nulls_first),
        };
        let call = Expr::AggregateFunction(AggregateFunction::new_udf(
            Arc::clone(by),
            vec![args[0].clone(), sort.expr.clone(), lit(nulls_win)],
            false,
            None,
            vec![],
            None,
        ));
        Ok(Some(named_as(call, e)))
    }
}

impl OptimizerRule for OrderedFirstLast {
    fn name(&self) -> &str {
        "strata_ordered_first_last"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = plan else {
            return Ok(Transformed::no(plan));
        };
        let Some(aggr_expr) = rewrite_each(&agg.aggr_expr, |e| self.rewrite_expr(e, agg.input.schema()))? else {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        };
        let rewritten = Aggregate::try_new(Arc::clone(&agg.input), agg.group_expr.clone(), aggr_expr)?;
        Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
    }
}
