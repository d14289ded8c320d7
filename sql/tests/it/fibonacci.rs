//! Fibonacci bars are stable: computing on data up to day D and later up to day D + k gives identical bars for
//! every bucket that was already closed on day D, and buckets never move.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use strata_sql::calendar::{ExchangeCalendar, Nyse};

use crate::*;

fn prices(sessions: &[NaiveDate]) -> MemTable {
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("open", DataType::Float64, false),
        Field::new("high", DataType::Float64, false),
        Field::new("low", DataType::Float64, false),
        Field::new("close", DataType::Float64, false),
        Field::new("volume", DataType::Float64, false),
    ]));
    let mut cols: (Vec<&str>, Vec<i64>, Vec<f64>) = (Vec::new(), Vec::new(), Vec::new());
    for (s, sym) in ["AAA", "BBB"].iter().enumerate() {
        for (i, d) in sessions.iter().enumerate() {
            cols.0.push(sym);
            cols.1
                .push(d.and_hms_opt(21, 0, 0).unwrap().and_utc().timestamp_micros());
            cols.2.push(100.0 + ((i * 7 + s * 13) % 23) as f64);
        }
    }
    let close = Float64Array::from(cols.2.clone());
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(cols.0)),
            Arc::new(TimestampMicrosecondArray::from(cols.1).with_timezone("UTC")),
            Arc::new(Float64Array::from_iter_values(cols.2.iter().map(|c| c - 0.5))),
            Arc::new(Float64Array::from_iter_values(cols.2.iter().map(|c| c + 1.0))),
            Arc::new(Float64Array::from_iter_values(cols.2.iter().map(|c| c - 1.0))),
            Arc::new(close),
            Arc::new(Float64Array::from_iter_values(cols.2.iter().map(|c| c * 10.0))),
        ],
    )
    .unwrap();
    MemTable::try_new(schema, vec![vec![batch]]).unwrap()
}

/// bucket (symbol, n, start) -> rendered bar, plus the session count per bucket.
async fn bars(sessions: &[NaiveDate]) -> BTreeMap<(String, i64, String), (String, i64)> {
    let ctx = ctx();
    ctx.register_table("prices", Arc::new(prices(sessions))).unwrap();
    let mut out = BTreeMap::new();
    for n in [3, 5, 8, 13, 21, 34] {
        let q = format!(
            "SELECT symbol, bucket, concat_ws(',', b['open'], b['high'], b['low'], b['close'], b['volume'], b['vwap'], \
                    b['trades']) AS bar, sessions \
             FROM (SELECT symbol, CAST(session_bucket(ts, {n}) AS VARCHAR) AS bucket, \
                          ohlcv(ts, open, high, low, close, volume) AS b, count(*) AS sessions \
                   FROM prices GROUP BY 1, 2) \
             ORDER BY 1, 2"
        );
        for batch in sql(&ctx, &q).await.unwrap() {
            let col = |i: usize| datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8).unwrap();
            let (s, b, bar) = (col(0), col(1), col(2));
            let (s, b, bar) = (
                s.as_any().downcast_ref::<StringArray>().unwrap(),
                b.as_any().downcast_ref::<StringArray>().unwrap(),
                bar.as_any().downcast_ref::<StringArray>().unwrap(),
            );
            let count = datafusion::arrow::array::AsArray::as_primitive::<datafusion::arrow::datatypes::Int64Type>(
                batch.column(3),
            );
            for i in 0..batch.num_rows() {
                out.insert(
                    (s.value(i).to_string(), n, b.value(i).to_string()),
                    (bar.value(i).to_string(), count.value(i)),
                );
            }
        }
    }
    out
}

#[tokio::test]
async fn closed_buckets_never_change_when_data_arrives() {
    let all = Nyse.sessions(
        NaiveDate::from_ymd_opt(2023, 11, 1).unwrap(),
        NaiveDate::from_ymd_opt(2024, 6, 28).unwrap(),
    );
    let full = bars(&all).await;
    // Cut at several days, including mid-bucket ones, and compare with the later, longer history.
    for cut in [37usize, 55, 89, 100, 144] {
        let early = bars(&all[..cut]).await;
        let mut closed = 0;
        for (key, (bar, sessions)) in &early {
            let (_, n, _) = key;
            let later = full
                .get(key)
                .unwrap_or_else(|| panic!("bucket {key:?} moved after day {cut}"));
            if *sessions == *n {
                closed += 1;
                assert_eq!(&later.0, bar, "closed bucket {key:?} changed after day {cut}");
            } else {
                // The open bucket only grows.
                assert!(later.1 >= *sessions && later.1 <= *n, "{key:?}");
            }
        }
        assert!(closed > 10, "too few closed buckets at cut {cut}");
    }
}
