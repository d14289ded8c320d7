//! Event times as microseconds since the epoch (UTC), and back to literals of a column's type.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, lit};
use serde::Serialize;

/// One day in microseconds.
pub const DAY: i64 = 86_400_000_000;

/// An inclusive range of event times; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TimeRange {
    /// The first event time, in microseconds since the epoch; `None` from the beginning.
    pub lo: Option<i64>,
    /// The last event time (inclusive), in microseconds since the epoch; `None` to the end.
    pub hi: Option<i64>,
}

impl TimeRange {
    /// Every event time: unbounded on both sides.
    pub const ALL: TimeRange = TimeRange { lo: None, hi: None };

    /// Whether the range is unbounded on both sides ([`TimeRange::ALL`]).
    pub fn is_all(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    /// The smallest range holding both.
    pub fn hull(self, other: TimeRange) -> TimeRange {
        TimeRange {
            lo: self.lo.zip(other.lo).map(|(a, b)| a.min(b)),
            hi: self.hi.zip(other.hi).map(|(a, b)| a.max(b)),
        }
    }

    /// Widened to whole units of `ty` (whole days for a DATE column).
    pub fn snapped(self, ty: &DataType) -> TimeRange {
        match ty {
            DataType::Date32 | DataType::Date64 => TimeRange {
                lo: self.lo.map(|v| v.div_euclid(DAY) * DAY),
                hi: self.hi.map(|v| v.div_euclid(DAY) * DAY + DAY - 1),
            },
            _ => self,
        }
    }

    /// The range for reports: `<lo> .. <hi>` ([`format_micros`]), `beginning` or `end` for an open side.
    pub fn describe(&self) -> String {
        let side = |v: Option<i64>, open: &str| v.map(format_micros).unwrap_or_else(|| open.to_string());
        format!("{} .. {}", side(self.lo, "beginning"), side(self.hi, "end"))
    }
}

/// `v` (microseconds since the epoch) as text: `YYYY-MM-DD` at midnight UTC, else RFC 3339 with microseconds and
/// `Z`; the bare number when out of chrono's range.
pub fn format_micros(v: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(v) {
        Some(t) if v.rem_euclid(DAY) == 0 => t.format("%Y-%m-%d").to_string(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => v.to_string(),
    }
}

/// Parse `YYYY-MM-DD` (the whole day: its start, or its end when `end`) or an RFC 3339 timestamp.
pub fn parse_time(text: &str, end: bool) -> Option<i64> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros();
        return Some(if end { start + DAY - 1 } else { start });
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Whether `ty` can hold event times.
pub fn is_time_type(ty: &DataType) -> bool {
    matches!(ty, DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _))
}

/// A value of an event-time column as microseconds: its start, or (for a DATE, `end`) the last microsecond of its
/// day.
pub fn to_micros(v: &ScalarValue, end: bool) -> Option<i64> {
    let day_end = if end { DAY - 1 } else { 0 };
    match v {
        ScalarValue::Date32(Some(d)) => Some(*d as i64 * DAY + day_end),
        ScalarValue::Date64(Some(ms)) => Some(ms.div_euclid(86_400_000) * DAY + day_end),
        ScalarValue::TimestampSecond(Some(s), _) => s.checked_mul(1_000_000),
        ScalarValue::TimestampMillisecond(Some(ms), _) => ms.checked_mul(1_000),
        ScalarValue::TimestampMicrosecond(Some(us), _) => Some(*us),
        ScalarValue::TimestampNanosecond(Some(ns), _) => Some(ns.div_euclid(1_000)),
        _ => None,
    }
}

/// A literal of `ty` for `micros`, rounded down to the type's unit.
pub fn literal(micros: i64, ty: &DataType) -> Result<Expr> {
    let value = match ty {
        DataType::Date32 => ScalarValue::Date32(Some(micros.div_euclid(DAY) as i32)),
        DataType::Date64 => ScalarValue::Date64(Some(micros.div_euclid(DAY) * 86_400_000)),
        DataType::Timestamp(TimeUnit::Second, tz) => {
            ScalarValue::TimestampSecond(Some(micros.div_euclid(1_000_000)), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Millisecond, tz) => {
            ScalarValue::TimestampMillisecond(Some(micros.div_euclid(1_000)), tz.clone())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => ScalarValue::TimestampMicrosecond(Some(micros), tz.clone()),
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            ScalarValue::TimestampNanosecond(micros.checked_mul(1_000), tz.clone())
        }
        other => {
            return Err(DataFusionError::Plan(format!(
                "an event-time column must be a DATE or a TIMESTAMP, not {other}"
            )));
        }
    };
    Ok(lit(value))
}

/// `column` within `range` (inclusive).
pub fn within(column: Expr, range: TimeRange, ty: &DataType) -> Result<Expr> {
    let mut parts = Vec::new();
    if let Some(lo) = range.lo {
        parts.push(column.clone().gt_eq(literal(lo, ty)?));
    }
    if let Some(hi) = range.hi {
        parts.push(column.lt_eq(literal(hi, ty)?));
    }
    Ok(parts.into_iter().reduce(Expr::and).unwrap_or_else(|| lit(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_timestamps() {
        let d = parse_time("2024-03-01", false).unwrap();
        assert_eq!(format_micros(d), "2024-03-01");
        assert_eq!(parse_time("2024-03-01", true).unwrap(), d + DAY - 1);
        assert_eq!(parse_time("2024-03-01T00:00:00Z", false), Some(d));
        assert!(parse_time("March", false).is_none());
        let r = TimeRange {
            lo: Some(d + 5),
            hi: Some(d + 7),
        };
        assert_eq!(
            r.snapped(&DataType::Date32),
            TimeRange {
                lo: Some(d),
                hi: Some(d + DAY - 1)
            }
        );
        assert_eq!(to_micros(&ScalarValue::Date32(Some(1)), true), Some(2 * DAY - 1));
        // Before 1970, days still round down.
        assert_eq!(
            literal(-1, &DataType::Date32).unwrap(),
            lit(ScalarValue::Date32(Some(-1)))
        );
    }
}
