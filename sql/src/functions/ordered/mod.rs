//! Ordered aggregates: `min_by` / `max_by` (the value at the smallest / largest key), vectorized, and the optimizer
//! rule that plans ordered `first_value` / `last_value` in a GROUP BY as them.

mod by;
mod groups;
mod keys;
mod max_by;
mod min_by;
mod rewrite;
mod rows;

use std::sync::Arc;

use datafusion::logical_expr::AggregateUDF;
use datafusion::optimizer::OptimizerRule;

pub use by::ByAggregate;
pub use rewrite::OrderedFirstLast;

/// The aggregates: `min_by` and `max_by`.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![
        Arc::new(AggregateUDF::from(min_by::min_by())),
        Arc::new(AggregateUDF::from(max_by::max_by())),
    ]
}

/// The optimizer rules every Strata session installs.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![Arc::new(OrderedFirstLast::default())]
}
