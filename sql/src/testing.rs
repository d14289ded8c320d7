//! Deterministic OHLCV fixtures shared by the test suites of every crate and by the benchmarks, so that the price
//! tables they build have one definition.
//!
//! Guarantees: the same arguments always give the same values, bit for bit, in the same row and batch order — on
//! every platform and across dependency upgrades (the generator is written out here, no external RNG) — because
//! tests compare these series against TA-Lib references and fixed expectations. Nothing here panics: what can fail
//! (building an Arrow batch or a table) returns a [`Result`].
//!
//! This module lives in `strata-sql` because that crate is at the bottom of the dependency graph: every test crate
//! and the benchmarks already depend on it, so sharing it adds no dependency and no import circle.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveTime};
use datafusion::arrow::array::{
    Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::error::Result;

/// Microseconds in a day.
pub const DAY_MICROS: i64 = 86_400_000_000;

/// The two key columns every price table starts with: `symbol` (Utf8) and `ts` (Timestamp µs, UTC), both not null.
pub fn key_fields() -> [Field; 2] {
    [
        Field::new("symbol", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]
}

/// `prices(symbol, ts, open, high, low, close, volume)` with no NULLs: the table of [`bars_batch`].
pub fn ohlcv_schema() -> SchemaRef {
    let prices = ["open", "high", "low", "close", "volume"].map(|name| Field::new(name, DataType::Float64, false));
    Arc::new(Schema::new(key_fields().into_iter().chain(prices).collect::<Vec<_>>()))
}

/// The bronze `market_daily` table: nullable prices, an Int64 volume and the `year` partition column.
pub fn bronze_schema() -> SchemaRef {
    let prices = ["open", "high", "low", "close"].map(|name| Field::new(name, DataType::Float64, true));
    let rest = [
        Field::new("volume", DataType::Int64, true),
        Field::new("year", DataType::Int32, false),
    ];
    Arc::new(Schema::new(
        key_fields().into_iter().chain(prices).chain(rest).collect::<Vec<_>>(),
    ))
}

/// A xorshift64 generator with Box-Muller normals: tiny, fully specified here, so fixtures never change.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0, which xorshift cannot leave, is taken as 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller on two uniforms, the second of the pair discarded).
    pub fn normal(&mut self) -> f64 {
        (-2.0 * (1.0 - self.uniform()).ln()).sqrt() * (2.0 * std::f64::consts::PI * self.uniform()).cos()
    }
}

/// A geometric random walk of `n` closes from 100 (1.5% daily volatility).
pub fn random_walk(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = XorShift::new(seed);
    let mut price = 100.0;
    (0..n)
        .map(|_| {
            price *= (0.015 * rng.normal()).exp();
            price
        })
        .collect()
}

/// The time of bar `i` of daily bars five days a week from `start_micros`: two days are skipped after every five
/// (from a Monday, weekdays only).
pub fn five_day_week(start_micros: i64, i: i64) -> i64 {
    start_micros + (i + i / 5 * 2) * DAY_MICROS
}

/// A daily bar's time: 21:00 UTC on `date`, after the New York close in winter and in summer.
pub fn session_close_micros(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN).and_utc().timestamp_micros() + 21 * 3_600_000_000
}

/// One row of the [`ohlcv_schema`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar<'a> {
    /// The instrument's symbol (`symbol`).
    pub symbol: &'a str,
    /// The bar's time (`ts`), in microseconds since the epoch (UTC).
    pub ts: i64,
    /// The first trade's price.
    pub open: f64,
    /// The highest price.
    pub high: f64,
    /// The lowest price.
    pub low: f64,
    /// The last trade's price.
    pub close: f64,
    /// The traded volume.
    pub volume: f64,
}

/// `bars` as one batch of the [`ohlcv_schema`], in the given order.
pub fn bars_batch(bars: &[Bar<'_>]) -> Result<RecordBatch> {
    let f = |g: fn(&Bar<'_>) -> f64| Arc::new(Float64Array::from_iter_values(bars.iter().map(g)));
    Ok(RecordBatch::try_new(
        ohlcv_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(bars.iter().map(|b| b.symbol))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(bars.iter().map(|b| b.ts)).with_timezone("UTC")),
            f(|b| b.open),
            f(|b| b.high),
            f(|b| b.low),
            f(|b| b.close),
            f(|b| b.volume),
        ],
    )?)
}

/// Batches of the [`ohlcv_schema`] as a table of one partition, batches in the given order.
pub fn ohlcv_table(batches: Vec<RecordBatch>) -> Result<MemTable> {
    MemTable::try_new(ohlcv_schema(), vec![batches])
}

/// `symbols × days` daily bars, one batch per symbol: symbol `S0000`, `S0001`, …, the closes a [`random_walk`]
/// seeded with the symbol's number + 7, open/high/low 0.999/1.01/0.99 times the close, weekdays from 2015-01-05
/// (a Monday) at 21:00 UTC.
pub fn prices_table(symbols: usize, days: usize) -> Result<MemTable> {
    let mut batches = Vec::with_capacity(symbols);
    for s in 0..symbols {
        let symbol = format!("S{s:04}");
        let bars: Vec<Bar<'_>> = random_walk(days, s as u64 + 7)
            .into_iter()
            .enumerate()
            .map(|(i, close)| Bar {
                symbol: &symbol,
                ts: five_day_week(1_420_491_600_000_000, i as i64),
                open: close * 0.999,
                high: close * 1.01,
                low: close * 0.99,
                close,
                volume: 1e5 + (i % 17) as f64 * 1e3,
            })
            .collect();
        batches.push(bars_batch(&bars)?);
    }
    ohlcv_table(batches)
}

/// One row of the [`bronze_schema`]: symbol, session date (stamped by [`session_close_micros`]), open, high, low,
/// close, volume; the year partition comes from the date.
pub type BronzeRow<'a> = (
    &'a str,
    NaiveDate,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    i64,
);

/// `rows` as one batch of the [`bronze_schema`], in the given order.
pub fn bronze_batch(rows: &[BronzeRow<'_>]) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(
        bronze_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| session_close_micros(r.1)))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.4))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.5))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.6))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1.year()))),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_and_the_times_are_fixed() {
        // The generator's first values (exact: a 53-bit integer over 2^53); seed 0 is seed 1.
        let first = [5.866995778092132e-11, 0.06250387570981197, 0.6059343925285465];
        for seed in [0, 1] {
            let mut rng = XorShift::new(seed);
            assert_eq!(first.map(|_| rng.uniform()), first);
        }
        assert_eq!(random_walk(3, 7), random_walk(3, 7));
        assert_ne!(random_walk(3, 7), random_walk(3, 8));
        // 2015-01-05 is a Monday; bar 5 is the next Monday.
        assert_eq!(five_day_week(0, 5), 7 * DAY_MICROS);
        let monday = NaiveDate::from_ymd_opt(2015, 1, 5).unwrap();
        assert_eq!(session_close_micros(monday), 1_420_491_600_000_000);
    }

    #[test]
    fn tables_have_their_schemas() {
        use datafusion::datasource::TableProvider;
        assert_eq!(prices_table(2, 10).unwrap().schema(), ohlcv_schema());
        let day = NaiveDate::from_ymd_opt(2024, 3, 4).unwrap();
        let b = bronze_batch(&[("AAA", day, Some(1.0), None, Some(0.5), Some(1.5), 10)]).unwrap();
        assert_eq!((b.num_rows(), b.schema()), (1, bronze_schema()));
    }
}
