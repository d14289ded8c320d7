//! The physical rule that runs sorted windows of rolling aggregates with [`RollingWindowExec`]: a
//! `BoundedWindowAggExec` in `Sorted` mode whose every expression is `rolling_agg` / `rolling_count` over a ROWS
//! frame from `n PRECEDING` (or `UNBOUNDED PRECEDING`) to the current row. Anything else — other functions in the
//! same operator, other frames, partially sorted input — keeps DataFusion's operator.
//!
//! Where it runs: the embedded engine's sessions install it as their last physical rule; on a cluster the
//! executors apply it to each task's plan (`strata-executor`), because plans travel from the scheduler to the
//! executors in DataFusion's own encoding, which knows only DataFusion's operators.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::InputOrderMode;
use datafusion::physical_plan::windows::{BoundedWindowAggExec, StandardWindowExpr, WindowExpr, WindowUDFExpr};

use super::exec::{RollingWindowExec, Spec};
use super::rewrite::rows_preceding;
use super::rolling_agg::{RollingAgg, parameters};

/// The rule (see the module docs).
#[derive(Debug, Default)]
pub struct RollingWindows;

impl RollingWindows {
    /// `plan` with every eligible window operator replaced.
    pub fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(plan
            .transform_up(|p| {
                let Some(window) = p.downcast_ref::<BoundedWindowAggExec>() else {
                    return Ok(Transformed::no(p));
                };
                match replacement(window)? {
                    Some(exec) => Ok(Transformed::yes(Arc::new(exec) as Arc<dyn ExecutionPlan>)),
                    None => Ok(Transformed::no(p)),
                }
            })?
            .data)
    }
}

/// The spec of `expr` when it is a rolling aggregate the operator computes.
fn spec(expr: &Arc<dyn WindowExpr>) -> Result<Option<Spec>> {
    let Some(standard) = expr.as_any().downcast_ref::<StandardWindowExpr>() else {
        return Ok(None);
    };
    let Some(udf) = standard
        .get_standard_func_expr()
        .as_any()
        .downcast_ref::<WindowUDFExpr>()
    else {
        return Ok(None);
    };
    let Some(rolling) = udf.fun().inner().downcast_ref::<RollingAgg>() else {
        return Ok(None);
    };
    let Some(preceding) = rows_preceding(expr.get_window_frame()) else {
        return Ok(None);
    };
    let Ok(preceding) = preceding.map(usize::try_from).transpose() else {
        return Ok(None);
    };
    let (kind, _) = parameters(udf.args(), rolling.counts())?;
    let Some(value) = udf.args().first() else {
        return Ok(None);
    };
    Ok(Some(Spec {
        name: expr.name().to_string(),
        value: Arc::clone(value),
        kind,
        preceding,
    }))
}

fn replacement(window: &BoundedWindowAggExec) -> Result<Option<RollingWindowExec>> {
    if window.input_order_mode != InputOrderMode::Sorted || window.window_expr().is_empty() {
        return Ok(None);
    }
    let mut specs = Vec::with_capacity(window.window_expr().len());
    for expr in window.window_expr() {
        match spec(expr)? {
            Some(s) => specs.push(s),
            None => return Ok(None),
        }
    }
    // Every expression of one operator shares its PARTITION BY; in `Sorted` mode the input is sorted on it.
    let partition_by = window.window_expr()[0].partition_by().to_vec();
    Ok(Some(RollingWindowExec::new(
        Arc::clone(window.input()),
        partition_by,
        specs,
        window,
    )))
}

impl PhysicalOptimizerRule for RollingWindows {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        Self::rewrite(plan)
    }

    fn name(&self) -> &str {
        "strata_rolling_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
