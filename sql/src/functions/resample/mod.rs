//! Resampling: calendar buckets, trading-session buckets (Fibonacci bars), the OHLCV bar aggregate, and the
//! exchange calendar as table functions.

mod calendar_bucket;
mod ohlcv;
mod session_bucket;
mod time;
mod trading_sessions;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub use ohlcv::Ohlcv;

pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(calendar_bucket::CalendarBucket::new())),
        Arc::new(ScalarUDF::from(session_bucket::SessionBucket::new())),
    ]
}

pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::from(ohlcv::Ohlcv::new()))]
}

pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![
        ("trading_sessions", Arc::new(trading_sessions::TradingSessions)),
        ("exchange_holidays", Arc::new(trading_sessions::ExchangeHolidays)),
    ]
}
