//! Strata's SQL function library, installed by one call ([`register_all`]) in the embedded engine and — with
//! the distributed engine — in the scheduler and every executor, so that plans mean the same everywhere.
//!
//! * [`indicators`]: technical indicators as window functions (TA-Lib names and definitions);
//! * [`resample`]: calendar and trading-session buckets, the `ohlcv` bar aggregate, exchange calendar tables;
//! * [`cleaning`]: outlier scores, bad-tick detection, bar consistency.
//!
//! `docs/functions.md` is the reference page.

pub mod cleaning;
pub mod indicators;
mod reference;
pub mod resample;

pub use reference::reference_markdown;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::prelude::SessionContext;

pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut out = resample::scalar_functions();
    out.extend(cleaning::scalar_functions());
    out
}

pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    resample::aggregate_functions()
}

pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    let mut out = indicators::functions();
    out.extend(cleaning::window_functions());
    out
}

pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    resample::table_functions()
}

/// Register every Strata function with a session.
pub fn register_all(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f.as_ref().clone());
    }
    for f in window_functions() {
        ctx.register_udwf(f.as_ref().clone());
    }
    for (name, f) in table_functions() {
        ctx.register_udtf(name, f);
    }
}
