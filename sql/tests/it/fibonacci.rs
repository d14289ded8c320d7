//! Fibonacci bars are stable: computing on data up to day D and later up to day D + k gives identical bars for
//! every bucket that was already closed on day D, and buckets never move.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::MemTable;
use strata_sql::calendar::{ExchangeCalendar, Nyse};
use strata_sql::testing::{Bar, bars_batch, ohlcv_table, session_close_micros};

use crate::*;

fn prices(sessions: &[NaiveDate]) -> MemTable {
    let mut bars = Vec::new();
    for (s, symbol) in ["AAA", "BBB"].into_iter().enumerate() {
        for (i, d) in sessions.iter().enumerate() {
            let c = 100.0 + ((i * 7 + s * 13) % 23) as f64;
            bars.push(Bar {
                symbol,
                ts: session_close_micros(*d),
                open: c - 0.5,
                high: c + 1.0,
                low: c - 1.0,
                close: c,
                volume: c * 10.0,
            });
        }
    }
    ohlcv_table(vec![bars_batch(&bars).unwrap()]).unwrap()
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
