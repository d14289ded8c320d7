//! Resampling: calendar buckets, trading-session buckets (Fibonacci bars), the OHLCV bar aggregate, and the
//! exchange calendar as table functions.

mod calendar_bucket;
mod ohlcv;
mod ohlcv_fields;
mod ohlcv_groups;
mod session_bucket;
mod time;
mod trading_sessions;

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

pub use ohlcv::Ohlcv;

/// The bucketing functions: `calendar_bucket` and `session_bucket`.
pub fn scalar_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(calendar_bucket::CalendarBucket::new())),
        Arc::new(ScalarUDF::from(session_bucket::SessionBucket::new())),
    ]
}

/// The `ohlcv` bar aggregate.
pub fn aggregate_functions() -> Vec<Arc<AggregateUDF>> {
    vec![Arc::new(AggregateUDF::from(ohlcv::Ohlcv::new()))]
}

/// The exchange calendar's table functions with their names: `trading_sessions` and `exchange_holidays`.
pub fn table_functions() -> Vec<(&'static str, Arc<dyn TableFunctionImpl>)> {
    vec![
        ("trading_sessions", Arc::new(trading_sessions::TradingSessions)),
        ("exchange_holidays", Arc::new(trading_sessions::ExchangeHolidays)),
    ]
}

/// Reference text of the table functions.
pub fn table_function_docs() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "trading_sessions",
            "`trading_sessions(start_date, end_date [, calendar])`\n\nOne row per regular session of the exchange \
             (default `'XNYS'`, the New York Stock Exchange) between two dates: `session_date`, `session_number` \
             (consecutive on the calendar, so differences count sessions), and the regular `open_time` and \
             `close_time` (09:30 and 16:00 New York time, as UTC timestamps). Weekends, NYSE holidays (by the \
             exchange's rules: observed Friday/Monday, New Year's Day on a Saturday not observed, Juneteenth since \
             2022, Washington's Birthday and Memorial Day on their dates before 1971) and unscheduled closures \
             (presidential election days until 1980, national days of mourning, the 1977 blackout, hurricanes \
             Gloria and Sandy, 2001-09-11..14) are not sessions. Covered years: 1970–2100. Early closes are not modelled.\n\n```sql\nSELECT count(*) FROM \
             trading_sessions(DATE '2024-01-01', DATE '2024-12-31')  -- 252\n```",
        ),
        (
            "exchange_holidays",
            "`exchange_holidays(start_date, end_date [, calendar])`\n\nThe weekday closures between two dates, \
             with their names (`holiday_date`, `name`).\n\n```sql\nSELECT * FROM exchange_holidays(DATE \
             '2025-01-01', DATE '2025-12-31')\n```",
        ),
    ]
}
