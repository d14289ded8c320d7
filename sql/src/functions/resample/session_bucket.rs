//! `session_bucket`: buckets of N consecutive trading sessions, anchored to a fixed origin.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::Date32Array;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
    scalar_doc_sections,
};

use super::time::{coerce_time, local_dates, parse_zone};
use crate::calendar::{SessionIndex, days};

const NAME: &str = "session_bucket";
/// The default origin: the first NYSE session of 2000.
pub const DEFAULT_ORIGIN: (i32, u32, u32) = (2000, 1, 3);

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SessionBucket {
    signature: Signature,
    doc: Documentation,
}

impl SessionBucket {
    pub fn new() -> Self {
        let doc = Documentation::builder(
            scalar_doc_sections::DOC_SECTION_DATETIME,
            "The first session of the bucket of `sessions` consecutive NYSE trading sessions holding `time`. \
             Buckets are counted from the first session on or after `origin` (default 2000-01-03) on the exchange \
             calendar, so they depend only on the calendar and never move when new data arrives: an incremental \
             run reproduces a full refresh. Zoned timestamps are read in New York time; a non-session day belongs \
             to the bucket of the session before it. Use it for Fibonacci bars (3, 5, 8, 13, 21, 34 sessions).",
            "session_bucket(time, sessions [, origin])",
        )
        .with_argument("time", "TIMESTAMP or DATE")
        .with_argument("sessions", "positive integer literal: sessions per bucket")
        .with_argument("origin", "DATE literal: where bucket 0 starts")
        .with_sql_example("SELECT symbol, session_bucket(ts, 8) AS bar_start, ohlcv(ts, open, high, low, close, volume) … GROUP BY 1, 2")
        .build();
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            doc,
        }
    }
}

impl Default for SessionBucket {
    fn default() -> Self {
        Self::new()
    }
}

fn sessions_arg(v: &ScalarValue) -> Result<usize> {
    match v.cast_to(&DataType::Int64) {
        Ok(ScalarValue::Int64(Some(n))) if (1..=100_000).contains(&n) => Ok(n as usize),
        _ => plan_err!("{NAME}: the number of sessions must be a positive integer, got {v}"),
    }
}

fn origin_arg(v: &ScalarValue) -> Result<i32> {
    match v.cast_to(&DataType::Date32) {
        Ok(ScalarValue::Date32(Some(d))) => Ok(d),
        _ => plan_err!("{NAME}: the origin must be a DATE, got {v}"),
    }
}

impl ScalarUDFImpl for SessionBucket {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&arg_types.len()) {
            return plan_err!(
                "{NAME}(time, sessions [, origin]): expected 2 or 3 arguments, got {}",
                arg_types.len()
            );
        }
        let mut out = vec![coerce_time(NAME, 1, &arg_types[0])?];
        if !(arg_types[1].is_integer() || arg_types[1].is_null()) {
            return plan_err!("{NAME}: argument 2 (sessions) must be an integer, got {}", arg_types[1]);
        }
        out.push(DataType::Int64);
        if let Some(t) = arg_types.get(2) {
            match t {
                DataType::Date32 | DataType::Date64 | DataType::Utf8 | DataType::Utf8View | DataType::Null => {
                    out.push(DataType::Date32)
                }
                other => return plan_err!("{NAME}: argument 3 (origin) must be a DATE, got {other}"),
            }
        }
        Ok(out)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        if let Some(Some(v)) = args.scalar_arguments.get(1) {
            sessions_arg(v)?;
        }
        if let Some(Some(v)) = args.scalar_arguments.get(2) {
            origin_arg(v)?;
        }
        Ok(Arc::new(Field::new(NAME, DataType::Date32, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = match args.args.get(1) {
            Some(ColumnarValue::Scalar(v)) => sessions_arg(v)?,
            _ => return exec_err!("{NAME}: the number of sessions must be a constant"),
        };
        let origin = match args.args.get(2) {
            Some(ColumnarValue::Scalar(v)) => origin_arg(v)?,
            Some(ColumnarValue::Array(_)) => return exec_err!("{NAME}: the origin must be a constant"),
            None => {
                let (y, m, d) = DEFAULT_ORIGIN;
                days(NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default())
            }
        };
        let zone = parse_zone(NAME, "America/New_York")?;
        let index = SessionIndex::nyse();
        let Some(origin) = index.ceil(origin) else {
            return exec_err!("{NAME}: the origin is outside the exchange calendar (1970–2100)");
        };
        let times = args.args[0].to_array(args.number_rows)?;
        let mut out = Vec::with_capacity(times.len());
        for d in local_dates(NAME, &times, &zone)? {
            out.push(match d {
                None => None,
                Some(d) => match index.bucket_start_from(days(d), n, origin) {
                    Some(b) => Some(b),
                    None => return exec_err!("{NAME}: {d} is outside the exchange calendar (1970–2100)"),
                },
            });
        }
        Ok(ColumnarValue::Array(Arc::new(Date32Array::from(out))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}
