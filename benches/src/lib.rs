//! Shared inputs for Strata's benchmarks: a session with Strata's functions over deterministic prices (the price
//! fixtures themselves are [`strata_sql::testing`], shared with the test suites).

#![warn(missing_docs)]

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use strata_sql::testing::prices_table;

/// A session with Strata's functions and the `prices` table of [`prices_table`]`(symbols, days)`.
pub fn session(symbols: usize, days: usize) -> Result<SessionContext> {
    let ctx = SessionContext::new();
    strata_sql::functions::register_all(&ctx);
    ctx.register_table("prices", Arc::new(prices_table(symbols, days)?))?;
    Ok(ctx)
}
