//! Strata's SQL function library, installed by one call ([`register_all`]) in the embedded engine and — with
//! the distributed engine — in the scheduler and every executor, so that plans mean the same everywhere.
//!
//! * [`indicators`]: technical indicators as window functions (TA-Lib names and definitions);
//! * [`resample`]: calendar and trading-session buckets, the `ohlcv` bar aggregate, exchange calendar tables;
//! * [`cleaning`]: outlier scores, bad-tick detection, bar consistency;
//! * [`ordered`]: `min_by` / `max_by`, and the optimizer rule that plans ordered `first_value` / `last_value` in a
//!   GROUP BY as them ([`optimizer_rules`], installed with the functions);
//! * [`rolling`]: aggregates over sliding ROWS frames kept running (`rolling_agg`, `rolling_count`), and the rule
//!   that plans `avg`/`sum`/`count`/`stddev`/`var` `OVER (… ROWS BETWEEN n PRECEDING AND CURRENT ROW)` as them;
//! * [`builtins`]: DataFusion functions replaced by faster equivalents with the same results (`date_trunc`);
//! * [`privacy`]: keyed hashes for pseudonyms, keyed by named secrets of the process (`hmac_sha256`).
//!
//! `docs/functions.md` is the reference page.

pub mod builtins;
pub mod cleaning;
mod exprs;
pub mod indicators;
pub mod ordered;
pub mod privacy;
mod reference;
pub mod resample;
pub mod rolling;

pub use reference::reference_markdown;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::prelude::SessionContext;

/// Every Strata scalar function: the resampling buckets, the row-wise cleaning checks, the keyed hashes, and the
/// built-ins that replace DataFusion's under the same name.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    let mut out = resample::scalar_functions();
    out.extend(cleaning::scalar_functions());
    out.extend(builtins::functions());
    out.extend(privacy::functions());
    out
}

/// Every Strata aggregate function: the `ohlcv` bar, `min_by` and `max_by`.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    let mut out = resample::aggregate_functions();
    out.extend(ordered::aggregate_functions());
    out
}

/// The logical optimizer rules every Strata session installs next to the functions (the embedded engine, the
/// scheduler and the executors' sessions alike): ordered `first_value` / `last_value` as `min_by` / `max_by`, and
/// aggregates over sliding ROWS frames as running ones.
pub fn optimizer_rules() -> Vec<Arc<dyn datafusion::optimizer::OptimizerRule + Send + Sync>> {
    let mut out = ordered::optimizer_rules();
    out.extend(rolling::optimizer_rules());
    out
}

/// The physical optimizer rules of the embedded engine, applied by executors to their tasks' plans too (plans
/// travel to executors in DataFusion's encoding, so the scheduler does not install them): sorted windows of rolling
/// aggregates run by a vectorized operator.
pub fn physical_optimizer_rules() -> Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>> {
    rolling::physical_optimizer_rules()
}

/// Every Strata window function: the indicators, the rolling cleaning scores and the running frame aggregates.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    let mut out = indicators::functions();
    out.extend(cleaning::window_functions());
    out.extend(rolling::window_functions());
    out
}

/// Which rows around a row the value of Strata window function `name` depends on, given the literal parameters
/// after its column arguments (omitted ones take their defaults). `None` when `name` is not a Strata window function
/// or a parameter is not a number.
pub fn window_extent(name: &str, params: &[Option<f64>]) -> Option<indicators::Extent> {
    let indicator = indicators::indicators()
        .into_iter()
        .chain(cleaning::window_indicators())
        .find(|i| i.name() == name)?;
    let values = indicator
        .params()
        .iter()
        .enumerate()
        .map(|(i, spec)| match params.get(i) {
            Some(given) => *given,
            None => spec.default,
        })
        .collect::<Option<Vec<f64>>>()?;
    Some(indicator.extent(&values))
}

/// Number of column arguments of Strata window function `name`.
pub fn window_columns(name: &str) -> Option<usize> {
    indicators::indicators()
        .into_iter()
        .chain(cleaning::window_indicators())
        .find(|i| i.name() == name)
        .map(|i| i.columns().len())
}

/// Every Strata table function with the name it is registered under: the exchange calendar tables.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents_follow_parameters_and_defaults() {
        let sma = window_extent("sma", &[Some(200.0)]).unwrap();
        assert_eq!((sma.before, sma.after), (Some(199), Some(0)));
        let ema = window_extent("ema", &[Some(12.0)]).unwrap();
        assert_eq!((ema.before, ema.after), (None, Some(0)));
        let spike = window_extent("return_spike", &[Some(5.0)]).unwrap();
        assert_eq!((spike.before, spike.after), (Some(6), Some(6)));
        assert!(window_extent("no_such_function", &[]).is_none());
        assert!(window_extent("sma", &[None]).is_none());
    }
}
