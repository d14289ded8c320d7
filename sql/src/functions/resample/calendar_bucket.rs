//! `calendar_bucket`: the first day of the calendar week, month, quarter or year holding a time.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::Date32Array;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
    scalar_doc_sections,
};

use super::time::{coerce_time, local_dates, parse_zone};
use crate::calendar::days;

const NAME: &str = "calendar_bucket";

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CalendarBucket {
    signature: Signature,
    doc: Documentation,
}

impl CalendarBucket {
    pub fn new() -> Self {
        let doc = Documentation::builder(
            scalar_doc_sections::DOC_SECTION_DATETIME,
            "The first day of the calendar period holding `time`, in `time_zone` (default UTC): weeks start on \
             Monday (ISO 8601); months, quarters and years on their first day. A zoned timestamp is converted to \
             `time_zone` first, so a 21:00 UTC bar is in New York's day; dates and naive timestamps are taken as \
             local already.",
            "calendar_bucket(time, unit [, time_zone])",
        )
        .with_argument("time", "TIMESTAMP or DATE")
        .with_argument("unit", "'day', 'week', 'month', 'quarter' or 'year'")
        .with_argument("time_zone", "IANA name or offset, e.g. 'America/New_York'")
        .with_sql_example("SELECT calendar_bucket(ts, 'week', 'America/New_York') AS week_start, …")
        .build();
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }
}

impl Default for CalendarBucket {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

fn unit(name: &str) -> Result<Unit> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "day" => Unit::Day,
        "week" => Unit::Week,
        "month" => Unit::Month,
        "quarter" => Unit::Quarter,
        "year" => Unit::Year,
        other => return plan_err!("{NAME}: unit must be day, week, month, quarter or year, got '{other}'"),
    })
}

fn start_of(d: NaiveDate, u: Unit) -> NaiveDate {
    let first = |m: u32| NaiveDate::from_ymd_opt(d.year(), m, 1).unwrap_or(d);
    match u {
        Unit::Day => d,
        Unit::Week => d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64),
        Unit::Month => first(d.month()),
        Unit::Quarter => first((d.month() - 1) / 3 * 3 + 1),
        Unit::Year => first(1),
    }
}

fn string_arg(v: &ScalarValue) -> Option<&str> {
    v.try_as_str().flatten()
}

impl ScalarUDFImpl for CalendarBucket {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "{NAME}(time, unit [, time_zone]): expected 2 or 3 arguments, got {}",
                arg_types.len()
            );
        }
        let mut out = vec![coerce_time(NAME, 1, &arg_types[0])?];
        for (i, t) in arg_types.iter().enumerate().skip(1) {
            out.push(match t {
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => t.clone(),
                DataType::Null => DataType::Utf8,
                other => return plan_err!("{NAME}: argument {} must be a string, got {other}", i + 1),
            });
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(Some(v)) = args.scalar_arguments.get(1) {
            unit(string_arg(v).unwrap_or_default())?;
        }
        if let Some(Some(v)) = args.scalar_arguments.get(2) {
            parse_zone(NAME, string_arg(v).unwrap_or_default())?;
        }
        Ok(Arc::new(Field::new(NAME, DataType::Date32, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let constant = |i: usize, what: &str| match args.args.get(i) {
            Some(ColumnarValue::Scalar(v)) => Ok(string_arg(v).map(str::to_string)),
            None => Ok(None),
            Some(ColumnarValue::Array(_)) => exec_err!("{NAME}: {what} must be a constant"),
        };
        let Some(unit_name) = constant(1, "the unit")? else {
            return exec_err!("{NAME}: the unit must not be NULL");
        };
        let u = unit(&unit_name)?;
        let zone = parse_zone(NAME, constant(2, "the time zone")?.as_deref().unwrap_or("UTC"))?;
        let times = args.args[0].to_array(args.number_rows)?;
        let out: Date32Array = local_dates(NAME, &times, &zone)?
            .into_iter()
            .map(|d| d.map(|d| days(start_of(d, u))))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_starts() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(start_of(d(2024, 1, 7), Unit::Week), d(2024, 1, 1)); // a Sunday belongs to Monday's week
        assert_eq!(start_of(d(2024, 1, 8), Unit::Week), d(2024, 1, 8));
        assert_eq!(start_of(d(2024, 8, 15), Unit::Quarter), d(2024, 7, 1));
        assert_eq!(start_of(d(2024, 12, 31), Unit::Year), d(2024, 1, 1));
        assert_eq!(start_of(d(2024, 2, 29), Unit::Month), d(2024, 2, 1));
    }
}
