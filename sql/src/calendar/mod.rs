//! Exchange calendars: which days an exchange holds a regular trading session.
//!
//! Trading-day arithmetic (Fibonacci bars, session-anchored buckets, the market data generator) must agree
//! on one calendar, so it lives here, beside the SQL functions that will expose it.

mod index;
mod nyse;
mod rules;

pub use index::{SessionIndex, date, days};
pub use nyse::Nyse;
pub use rules::ExchangeCalendar;
