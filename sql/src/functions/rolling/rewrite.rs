//! Rolling aggregates over ROWS frames — `avg(x) OVER (… ROWS BETWEEN n PRECEDING AND CURRENT ROW)`, the plain-SQL
//! moving average and deviation — planned as `rolling_agg` / `rolling_count`, which keep the aggregate running
//! as the frame slides. DataFusion 55 evaluates such a frame by calling the aggregate's `update_batch` and
//! `retract_batch` with one-row slices for every row of every window expression; that per-row machinery, not the
//! arithmetic, was most of the plain-SQL pipeline's time.
//!
//! The rewrite keeps the results: the same NULL handling, the same running formulas (DataFusion's own sliding
//! sum and Welford variance), the same output types and nullability. Only these are rewritten: `avg`, `sum`,
//! `count`, `stddev`/`stddev_samp`, `stddev_pop`, `var`/`var_samp`, `var_pop` of one integer or float argument,
//! without FILTER or DISTINCT, over `ROWS BETWEEN n PRECEDING AND CURRENT ROW` or `ROWS BETWEEN UNBOUNDED
//! PRECEDING AND CURRENT ROW` with an ORDER BY (`sum` of floats only: an integer sum stays an integer).

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::functions_aggregate::average::Avg;
use datafusion::functions_aggregate::count::Count;
use datafusion::functions_aggregate::stddev::{Stddev, StddevPop};
use datafusion::functions_aggregate::sum::Sum;
use datafusion::functions_aggregate::variance::{VariancePopulation, VarianceSample};
use datafusion::logical_expr::expr::{NullTreatment, WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::{
    Expr, ExprSchemable, LogicalPlan, Window, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition, WindowUDF, cast, lit,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use super::state::Kind;
use crate::functions::exprs::{named_as, rewrite_each, unaliased};

/// The optimizer rule; every Strata session installs it (`strata_sql::functions::optimizer_rules`).
#[derive(Debug)]
pub struct RollingFrames {
    agg: Arc<WindowUDF>,
    count: Arc<WindowUDF>,
}

impl Default for RollingFrames {
    fn default() -> Self {
        Self {
            agg: Arc::new(WindowUDF::new_from_impl(super::rolling_agg::RollingAgg::default())),
            count: Arc::new(WindowUDF::new_from_impl(super::rolling_count::rolling_count())),
        }
    }
}

/// The kind of rolling aggregate `wf` is, when it is one the rewrite takes (and its value type allows).
fn kind(wf: &WindowFunction, input: &DFSchema) -> Result<Option<Kind>> {
    let WindowFunctionDefinition::AggregateUDF(f) = &wf.fun else {
        return Ok(None);
    };
    let p = &wf.params;
    if p.args.len() != 1
        || p.filter.is_some()
        || p.distinct
        || matches!(p.null_treatment, Some(NullTreatment::IgnoreNulls))
    {
        return Ok(None);
    }
    let ty = p.args[0].get_type(input)?;
    let (int, float) = (
        ty.is_integer(),
        matches!(ty, DataType::Float64 | DataType::Float32 | DataType::Float16),
    );
    let f = f.inner();
    let kind = if f.is::<Avg>() {
        Kind::Avg
    } else if f.is::<Sum>() && float {
        Kind::Sum
    } else if f.is::<Count>() {
        Kind::Count
    } else if f.is::<Stddev>() {
        Kind::StddevSamp
    } else if f.is::<StddevPop>() {
        Kind::StddevPop
    } else if f.is::<VarianceSample>() {
        Kind::VarSamp
    } else if f.is::<VariancePopulation>() {
        Kind::VarPop
    } else {
        return Ok(None);
    };
    Ok((int || float).then_some(kind))
}

/// The frame's `n` of `n PRECEDING` (`Some(None)`: unbounded) when it is a ROWS frame ending at the current row.
fn preceding(wf: &WindowFunction) -> Option<Option<u64>> {
    if wf.params.order_by.is_empty() {
        return None;
    }
    rows_preceding(&wf.params.window_frame)
}

/// The `n` of a ROWS frame from `n PRECEDING` (`Some(None)`: `UNBOUNDED PRECEDING`; `CURRENT ROW`: 0) to the current
/// row; `None` for any other frame. Shared by this rule and the physical one (`super::physical`).
pub(super) fn rows_preceding(frame: &WindowFrame) -> Option<Option<u64>> {
    if frame.units != WindowFrameUnits::Rows || frame.end_bound != WindowFrameBound::CurrentRow {
        return None;
    }
    match &frame.start_bound {
        WindowFrameBound::Preceding(v) if v.is_null() => Some(None),
        WindowFrameBound::Preceding(v) => match v.cast_to(&DataType::UInt64).ok()? {
            ScalarValue::UInt64(Some(n)) if n < i64::MAX as u64 => Some(Some(n)),
            _ => None,
        },
        WindowFrameBound::CurrentRow => Some(Some(0)),
        WindowFrameBound::Following(_) => None,
    }
}

impl RollingFrames {
    fn rewrite_expr(&self, e: &Expr, input: &DFSchema) -> Result<Option<Expr>> {
        let inner = unaliased(e);
        let Expr::WindowFunction(wf) = inner else {
            return Ok(None);
        };
        let (Some(kind), Some(preceding)) = (kind(wf, input)?, preceding(wf)) else {
            return Ok(None);
        };
        let n = lit(preceding.map_or(-1, |n| n as i64));
        // Optimizer rules run after type coercion: the value gets the Float64 cast coercion would have added.
        let value = match wf.params.args[0].get_type(input)? {
            DataType::Float64 => wf.params.args[0].clone(),
            _ => cast(wf.params.args[0].clone(), DataType::Float64),
        };
        let (fun, args) = match kind {
            Kind::Count => (&self.count, vec![value, n]),
            _ => (&self.agg, vec![value, lit(kind.name()), n]),
        };
        let call = Expr::from(WindowFunction {
            fun: WindowFunctionDefinition::WindowUDF(Arc::clone(fun)),
            params: WindowFunctionParams {
                args,
                partition_by: wf.params.partition_by.clone(),
                order_by: wf.params.order_by.clone(),
                window_frame: wf.params.window_frame.clone(),
                filter: None,
                null_treatment: None,
                distinct: false,
            },
        });
        Ok(Some(named_as(call, e)))
    }
}

impl OptimizerRule for RollingFrames {
    fn name(&self) -> &str {
        "strata_rolling_frames"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Window(window) = plan else {
            return Ok(Transformed::no(plan));
        };
        let Some(exprs) = rewrite_each(&window.window_expr, |e| self.rewrite_expr(e, window.input.schema()))? else {
            return Ok(Transformed::no(LogicalPlan::Window(window)));
        };
        Ok(Transformed::yes(LogicalPlan::Window(Window::try_new(
            exprs,
            Arc::clone(&window.input),
        )?)))
    }
}
