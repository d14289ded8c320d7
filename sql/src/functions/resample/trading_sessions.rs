//! `trading_sessions` and `exchange_holidays`: the exchange calendar as tables.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{ArrayRef, Date32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::Expr;

use crate::calendar::{ExchangeCalendar, Nyse, SessionIndex, date, days};

/// The calendars Strata ships, by ISO 10383 market code.
fn calendar(
    function: &str,
    code: &str,
) -> Result<(&'static dyn ExchangeCalendar, &'static SessionIndex, &'static str)> {
    match code.to_ascii_uppercase().as_str() {
        "XNYS" | "NYSE" => Ok((&Nyse, SessionIndex::nyse(), "America/New_York")),
        other => plan_err!("{function}: unknown exchange calendar '{other}' (known: XNYS)"),
    }
}

fn date_arg(function: &str, e: &Expr, what: &str) -> Result<NaiveDate> {
    let Expr::Literal(v, _) = e else {
        return plan_err!("{function}: {what} must be a DATE literal, got {e}");
    };
    match v.cast_to(&DataType::Date32) {
        Ok(ScalarValue::Date32(Some(d))) => match date(d) {
            Some(d) => Ok(d),
            None => plan_err!("{function}: {what} is out of range"),
        },
        _ => plan_err!("{function}: {what} must be a DATE, got {v}"),
    }
}

fn parse_args<'a>(function: &str, exprs: &'a [Expr]) -> Result<(NaiveDate, NaiveDate, &'a str)> {
    if !(2..=3).contains(&exprs.len()) {
        return plan_err!(
            "{function}(start_date, end_date [, calendar]): expected 2 or 3 arguments, got {}",
            exprs.len()
        );
    }
    let start = date_arg(function, &exprs[0], "start_date")?;
    let end = date_arg(function, &exprs[1], "end_date")?;
    if end < start {
        return plan_err!("{function}: end_date {end} is before start_date {start}");
    }
    let code = match exprs.get(2) {
        None => "XNYS",
        Some(Expr::Literal(v, _)) => match v.try_as_str().flatten() {
            Some(s) => s,
            None => return plan_err!("{function}: the calendar must be a string such as 'XNYS', got {v}"),
        },
        Some(other) => return plan_err!("{function}: the calendar must be a literal, got {other}"),
    };
    Ok((start, end, code))
}

fn table(schema: Arc<Schema>, columns: Vec<ArrayRef>) -> Result<Arc<dyn TableProvider>> {
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// `trading_sessions(start_date, end_date [, calendar])`: one row per regular session — its date, its number
/// on the calendar (consecutive, so differences count sessions), and its regular open and close instants.
#[derive(Debug, Default)]
pub struct TradingSessions;

impl TableFunctionImpl for TradingSessions {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let (start, end, code) = args_of("trading_sessions", &args)?;
        let (cal, index, zone) = calendar("trading_sessions", code)?;
        let tz: Tz = zone.parse()?;
        let sessions = cal.sessions(start, end);
        let at = |d: &NaiveDate, h: u32, m: u32| {
            let local = NaiveDateTime::new(*d, NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default());
            tz.from_local_datetime(&local).single().map(|t| t.timestamp_micros())
        };
        let numbers: Vec<Option<i64>> = sessions
            .iter()
            .map(|d| index.floor(days(*d)).map(|i| i as i64))
            .collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("session_date", DataType::Date32, false),
            Field::new("session_number", DataType::Int64, true),
            Field::new(
                "open_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new(
                "close_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        table(
            schema,
            vec![
                Arc::new(Date32Array::from_iter_values(sessions.iter().map(|d| days(*d)))),
                Arc::new(Int64Array::from(numbers)),
                Arc::new(
                    TimestampMicrosecondArray::from_iter(sessions.iter().map(|d| at(d, 9, 30))).with_timezone("UTC"),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from_iter(sessions.iter().map(|d| at(d, 16, 0))).with_timezone("UTC"),
                ),
            ],
        )
    }
}

/// `exchange_holidays(start_date, end_date [, calendar])`: weekday closures with their names.
#[derive(Debug, Default)]
pub struct ExchangeHolidays;

impl TableFunctionImpl for ExchangeHolidays {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let (start, end, code) = args_of("exchange_holidays", &args)?;
        let (cal, _, _) = calendar("exchange_holidays", code)?;
        let mut rows = Vec::new();
        for year in chrono::Datelike::year(&start)..=chrono::Datelike::year(&end) {
            rows.extend(cal.holidays(year).into_iter().filter(|(d, _)| *d >= start && *d <= end));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("holiday_date", DataType::Date32, false),
            Field::new("name", DataType::Utf8, false),
        ]));
        table(
            schema,
            vec![
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|(d, _)| days(*d)))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, n)| *n))),
            ],
        )
    }
}

fn args_of<'a>(function: &str, args: &'a TableFunctionArgs) -> Result<(NaiveDate, NaiveDate, &'a str)> {
    parse_args(function, args.exprs())
}
