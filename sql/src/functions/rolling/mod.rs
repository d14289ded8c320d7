//! Rolling aggregates: `rolling_agg` / `rolling_count`, aggregates over a ROWS frame ending at the current row
//! kept running as the frame slides, and the optimizer rule that plans the plain-SQL `avg`, `sum`, `count`,
//! `stddev` and `var` over such frames as them, and the physical rule that runs sorted windows made only of them
//! with a vectorized operator ([`RollingWindowExec`]).

mod exec;
mod physical;
mod rewrite;
mod rolling_agg;
mod rolling_count;
mod state;

use std::sync::Arc;

use datafusion::logical_expr::WindowUDF;
use datafusion::optimizer::OptimizerRule;

pub use exec::RollingWindowExec;
pub use physical::RollingWindows;
pub use rewrite::RollingFrames;
pub use rolling_agg::RollingAgg;

/// The window functions: `rolling_agg` and `rolling_count`.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![
        Arc::new(WindowUDF::new_from_impl(RollingAgg::default())),
        Arc::new(WindowUDF::new_from_impl(rolling_count::rolling_count())),
    ]
}

/// The optimizer rules every Strata session installs.
pub fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    vec![Arc::new(RollingFrames::default())]
}

/// The physical optimizer rules of the embedded engine (and of executors' task plans): sorted windows of rolling
/// aggregates run by [`RollingWindowExec`].
pub fn physical_optimizer_rules() -> Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    vec![Arc::new(RollingWindows)]
}
