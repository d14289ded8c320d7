//! Technical indicators as window functions, named and defined as in TA-Lib (lower case), plus a few that
//! TA-Lib lacks. Use them under one window so that they share one sort:
//!
//! ```sql
//! SELECT symbol, ts, sma(close, 20) OVER w, rsi(close, 14) OVER w, atr(high, low, close, 14) OVER w
//! FROM prices WINDOW w AS (PARTITION BY symbol ORDER BY ts)
//! ```

mod atr;
mod bbands;
mod crossover;
mod ema;
pub mod kernels;
mod linearreg_slope;
mod macd;
mod obv;
mod relative_strength;
mod roc;
mod rsi;
mod sma;
pub mod spec;
mod udwf;
mod volatility;
mod vwap;
mod wma;

use std::sync::Arc;

use datafusion::logical_expr::WindowUDF;

pub use spec::{Doc, Extent, Indicator, Param};
pub use udwf::IndicatorUdwf;

/// Every indicator, in reference order.
pub fn indicators() -> Vec<Arc<dyn Indicator>> {
    vec![
        Arc::new(sma::Sma),
        Arc::new(ema::Ema),
        Arc::new(wma::Wma),
        Arc::new(rsi::Rsi),
        Arc::new(macd::Macd(macd::MacdOutput::Line)),
        Arc::new(macd::Macd(macd::MacdOutput::Signal)),
        Arc::new(macd::Macd(macd::MacdOutput::Hist)),
        Arc::new(bbands::Bbands(bbands::Band::Upper)),
        Arc::new(bbands::Bbands(bbands::Band::Middle)),
        Arc::new(bbands::Bbands(bbands::Band::Lower)),
        Arc::new(atr::Atr),
        Arc::new(roc::Roc),
        Arc::new(linearreg_slope::LinearregSlope),
        Arc::new(obv::Obv),
        Arc::new(volatility::Volatility),
        Arc::new(vwap::Vwap),
        Arc::new(relative_strength::RelativeStrength),
        Arc::new(crossover::Crossover),
    ]
}

/// The indicators as DataFusion window functions.
pub fn functions() -> Vec<Arc<WindowUDF>> {
    indicators().into_iter().map(IndicatorUdwf::udwf).collect()
}
