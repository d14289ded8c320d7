//! Strata's physical operators and the rules that put them in plans, where DataFusion 55's own operators hold or
//! recompute more than the query needs. Same results, schema, ordering and partitioning as the operators they
//! replace.
//!
//! * [`crate::functions::rolling::RollingWindowExec`]: sorted windows made only of rolling frame aggregates;
//! * [`StreamingWindowExec`]: whole-partition window functions (every indicator) computed partition by partition
//!   as sorted input arrives, instead of after all of it.
//!
//! [`rules`] is what the embedded engine installs (last, after DataFusion's own physical rules) and what executors
//! apply to each task's plan: a scheduler ships plans in DataFusion's encoding, which knows only its operators.

mod streaming_window;

use std::sync::Arc;

use datafusion::physical_optimizer::PhysicalOptimizerRule;

pub use streaming_window::{StreamingWindowExec, StreamingWindows};

/// Every Strata physical rule, in the order they run.
pub fn rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut out = crate::functions::physical_optimizer_rules();
    out.push(Arc::new(StreamingWindows));
    out
}
