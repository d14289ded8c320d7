//! Data-cleaning functions: rolling outlier scores, bad-tick detection, and the OHLC consistency check.
//!
//! Duplicate resolution by latest revision needs no function of its own; DataFusion's `QUALIFY` says it directly:
//! `SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY symbol, ts ORDER BY revision DESC) = 1`.

mod mad_score;
mod ohlc_valid;
mod return_spike;
mod zscore;

use std::sync::Arc;

use datafusion::logical_expr::{ScalarUDF, WindowUDF};

use crate::functions::indicators::{Indicator, IndicatorUdwf};

/// Cleaning functions evaluated over a window.
pub fn window_indicators() -> Vec<Arc<dyn Indicator>> {
    vec![
        Arc::new(zscore::Zscore),
        Arc::new(mad_score::MadScore),
        Arc::new(return_spike::ReturnSpike),
    ]
}

/// The rolling cleaning scores as window functions: `zscore`, `mad_score`, `return_spike`.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    window_indicators().into_iter().map(IndicatorUdwf::udwf).collect()
}

/// The row-wise cleaning checks: `ohlc_valid`.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(ohlc_valid::OhlcValid::new()))]
}
