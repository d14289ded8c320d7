//! SQL-level tests of Strata's function library, run through DataFusion, against independent references.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod builtins;
mod fibonacci;
mod functions;
mod ordered;
mod rolling;
mod streaming;
mod talib;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

/// A session with every Strata function installed.
pub fn ctx() -> SessionContext {
    let ctx = SessionContext::new();
    strata_sql::functions::register_all(&ctx);
    ctx
}

/// A session with Strata's functions and optimizer rules, as every Strata session has them (the physical ones as
/// the embedded engine has them).
pub fn strata_ctx() -> SessionContext {
    strata_ctx_with(datafusion::prelude::SessionConfig::new())
}

/// [`strata_ctx`] with `config` (batch size, partitions).
pub fn strata_ctx_with(config: datafusion::prelude::SessionConfig) -> SessionContext {
    let mut builder = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    for rule in strata_sql::functions::optimizer_rules() {
        builder = builder.with_optimizer_rule(rule);
    }
    for rule in strata_sql::physical::rules() {
        builder = builder.with_physical_optimizer_rule(rule);
    }
    let ctx = SessionContext::new_with_state(builder.build());
    strata_sql::functions::register_all(&ctx);
    ctx
}

pub async fn sql(ctx: &SessionContext, query: &str) -> datafusion::error::Result<Vec<RecordBatch>> {
    ctx.sql(query).await?.collect().await
}

pub fn pretty(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}

/// The Python interpreter with `ta-lib` and `numpy` (set up by `dev/test.sh`).
pub fn python() -> String {
    std::env::var("STRATA_PYTHON").unwrap_or_else(|_| {
        panic!("STRATA_PYTHON is not set: run the suite with dev/test.sh, which installs the TA-Lib reference")
    })
}

/// A small deterministic generator for test data (no dependency): xorshift.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
