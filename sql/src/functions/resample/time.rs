//! Shared handling of time arguments: any timestamp (with or without time zone) or date becomes a local date.

use chrono::NaiveDate;
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::cast::{as_date32_array, as_timestamp_microsecond_array};
use datafusion::common::{Result, exec_err, plan_err};

use crate::calendar::date;

/// The type a time argument is coerced to: microsecond timestamps keep their zone; dates stay dates.
pub fn coerce_time(function: &str, position: usize, t: &DataType) -> Result<DataType> {
    Ok(match t {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Date32 | DataType::Date64 => DataType::Date32,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        other => return plan_err!("{function}: argument {position} must be a TIMESTAMP or DATE, got {other}"),
    })
}

/// Local dates of a (coerced) time array: a zoned timestamp is converted to `zone`, a naive timestamp is
/// already wall-clock time, a date is itself.
pub fn local_dates(function: &str, array: &ArrayRef, zone: &Tz) -> Result<Vec<Option<NaiveDate>>> {
    match array.data_type() {
        DataType::Date32 => Ok(as_date32_array(array)?.iter().map(|d| d.and_then(date)).collect()),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let ts = as_timestamp_microsecond_array(array)?;
            let zoned = tz.is_some();
            ts.iter()
                .map(|v| match v {
                    None => Ok(None),
                    Some(us) => match chrono::DateTime::from_timestamp_micros(us) {
                        Some(utc) if zoned => Ok(Some(utc.with_timezone(zone).date_naive())),
                        Some(utc) => Ok(Some(utc.naive_utc().date())),
                        None => exec_err!("{function}: timestamp {us} is out of range"),
                    },
                })
                .collect()
        }
        other => exec_err!("{function}: unexpected argument type {other}"),
    }
}

/// Parse a time zone name or offset (`America/New_York`, `UTC`, `+05:30`).
pub fn parse_zone(function: &str, name: &str) -> Result<Tz> {
    match name.parse::<Tz>() {
        Ok(tz) => Ok(tz),
        Err(_) => plan_err!("{function}: unknown time zone '{name}'"),
    }
}
