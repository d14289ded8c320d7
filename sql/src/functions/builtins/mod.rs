//! DataFusion built-in functions Strata registers under their own names, replacing DataFusion's: same results,
//! types and errors (they delegate to DataFusion's implementation), with fast paths where DataFusion 55 is slow
//! on what market data looks like. Not listed in `docs/functions.md` (they are DataFusion's functions); the
//! reasons are in `docs/performance.md`.

mod date_trunc;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

pub use date_trunc::DateTrunc;

/// The replacing scalar functions: `date_trunc` (UTC timestamps by integer arithmetic).
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(DateTrunc::new()))]
}
