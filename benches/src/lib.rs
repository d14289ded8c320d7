//! Shared inputs for Strata's benchmarks: deterministic price series and a session with Strata's functions.

#![warn(missing_docs)]

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

/// A geometric random walk of `n` closes (xorshift + Box-Muller; no external RNG so inputs never change).
pub fn random_walk(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.max(1);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut price = 100.0;
    (0..n)
        .map(|_| {
            let z = (-2.0 * (1.0 - next()).ln()).sqrt() * (2.0 * std::f64::consts::PI * next()).cos();
            price *= (0.015 * z).exp();
            price
        })
        .collect()
}

/// `symbols × days` daily bars as a table `prices(symbol, ts, open, high, low, close, volume)`.
pub fn prices_table(symbols: usize, days: usize) -> MemTable {
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
    let mut batches = Vec::with_capacity(symbols);
    for s in 0..symbols {
        let close = random_walk(days, s as u64 + 7);
        let day = 86_400_000_000i64;
        // Weekdays only, from 2015-01-05 (a Monday), stamped at 21:00 UTC.
        let ts = (0..days as i64).map(|i| 1_420_491_600_000_000 + (i + i / 5 * 2) * day);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values((0..days).map(|_| format!("S{s:04}")))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(ts).with_timezone("UTC")),
                Arc::new(Float64Array::from_iter_values(close.iter().map(|c| c * 0.999))),
                Arc::new(Float64Array::from_iter_values(close.iter().map(|c| c * 1.01))),
                Arc::new(Float64Array::from_iter_values(close.iter().map(|c| c * 0.99))),
                Arc::new(Float64Array::from(close)),
                Arc::new(Float64Array::from_iter_values(
                    (0..days).map(|i| 1e5 + (i % 17) as f64 * 1e3),
                )),
            ],
        )
        .expect("consistent columns");
        batches.push(batch);
    }
    MemTable::try_new(schema, vec![batches]).expect("one partition")
}

/// A session with Strata's functions and the `prices` table.
pub fn session(symbols: usize, days: usize) -> SessionContext {
    let ctx = SessionContext::new();
    strata_sql::functions::register_all(&ctx);
    ctx.register_table("prices", Arc::new(prices_table(symbols, days)))
        .expect("register prices");
    ctx
}
