//! Deterministic OHLCV market data: geometric Brownian motion per symbol on the NYSE calendar, with an optional
//! rate of realistic defects for cleaning stages to remove.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use serde::Serialize;
use strata_sql::calendar::{ExchangeCalendar, Nyse};

use super::rng::Rng;

/// Minutes in a regular NYSE session (09:30–16:00 New York time).
const SESSION_MINUTES: u32 = 390;
/// Trading days per year used to annualise drift and volatility.
const TRADING_DAYS: f64 = 252.0;

/// Bar size of generated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BarInterval {
    /// One bar per trading session, stamped at the 16:00 New York close.
    Daily,
    /// One bar per minute of each session, stamped at the minute's start.
    Minute,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct MarketSpec {
    /// Number of symbols, from 1 to 26⁴ (tickers `AAAA`, `AAAB`, …; see [`ticker`]).
    pub symbols: usize,
    /// First calendar date; only NYSE sessions produce bars.
    pub start: NaiveDate,
    /// Last calendar date, inclusive; not before `start`.
    pub end: NaiveDate,
    /// Random seed: the same spec always gives the same rows.
    pub seed: u64,
    /// Probability in `[0, 1]` that a generated row carries one defect.
    pub defect_rate: f64,
    /// Bar size.
    pub interval: BarInterval,
}

/// How many defects of each kind were injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DefectCounts {
    /// Extra exact copies of a row.
    pub duplicates: u64,
    /// Rows with one of open/high/low/close NULL.
    pub null_prices: u64,
    /// Rows with a zero or negative price.
    pub non_positive_prices: u64,
    /// Rows whose high is below their low.
    pub high_below_low: u64,
    /// Rows with every price multiplied by 50 (a bad tick).
    pub spikes: u64,
    /// Valid rows written later than rows that follow them in time.
    pub out_of_order: u64,
}

impl DefectCounts {
    /// Defective rows a cleaning stage must remove (out-of-order rows are valid and stay).
    pub fn removable(&self) -> u64 {
        self.duplicates + self.null_prices + self.non_positive_prices + self.high_below_low + self.spikes
    }

    fn add(&mut self, o: &DefectCounts) {
        self.duplicates += o.duplicates;
        self.null_prices += o.null_prices;
        self.non_positive_prices += o.non_positive_prices;
        self.high_below_low += o.high_below_low;
        self.spikes += o.spikes;
        self.out_of_order += o.out_of_order;
    }
}

/// Generated data, ready to write.
#[derive(Debug)]
pub struct Generated {
    /// The schema of every batch: [`market_schema`].
    pub schema: SchemaRef,
    /// One batch per group of consecutive symbols, in symbol order; each symbol's rows are in time order but for
    /// the out-of-order defects.
    pub batches: Vec<RecordBatch>,
    /// Rows in all batches, defective ones included.
    pub rows: usize,
    /// The defects injected, by kind.
    pub defects: DefectCounts,
}

/// The bronze price schema: `year` is the partition column.
pub fn market_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("open", DataType::Float64, true),
        Field::new("high", DataType::Float64, true),
        Field::new("low", DataType::Float64, true),
        Field::new("close", DataType::Float64, true),
        Field::new("volume", DataType::Int64, true),
        Field::new("year", DataType::Int32, false),
    ]))
}

/// A four-letter ticker for symbol number `i` (`AAAA`, `AAAB`, …).
pub fn ticker(i: usize) -> String {
    let mut n = i;
    let mut chars = [b'A'; 4];
    for c in chars.iter_mut().rev() {
        *c = b'A' + (n % 26) as u8;
        n /= 26;
    }
    String::from_utf8_lossy(&chars).into_owned()
}

/// Hours New York is behind UTC on `date` (US daylight saving rules since 2007).
fn new_york_offset_hours(date: NaiveDate) -> i64 {
    let second_sunday_march = NaiveDate::from_weekday_of_month_opt(date.year(), 3, Weekday::Sun, 2);
    let first_sunday_november = NaiveDate::from_weekday_of_month_opt(date.year(), 11, Weekday::Sun, 1);
    match (second_sunday_march, first_sunday_november) {
        (Some(start), Some(end)) if date >= start && date < end => 4,
        _ => 5,
    }
}

/// Microseconds since the epoch of a New York wall-clock time.
fn new_york_micros(date: NaiveDate, hour: u32, minute: u32) -> i64 {
    let local = NaiveDateTime::new(date, NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default());
    let utc = local + chrono::Duration::hours(new_york_offset_hours(date));
    utc.and_utc().timestamp_micros()
}

/// One bar before defects.
#[derive(Debug, Clone, Copy)]
struct Bar {
    ts: i64,
    year: i32,
    open: Option<f64>,
    high: Option<f64>,
    low: Option<f64>,
    close: Option<f64>,
    volume: i64,
}

fn cents(x: f64) -> f64 {
    ((x * 100.0).round() / 100.0).max(0.01)
}

/// All bars of one symbol, in time order, with defects applied.
fn symbol_bars(spec: &MarketSpec, sessions: &[NaiveDate], index: usize, counts: &mut DefectCounts) -> Vec<Bar> {
    let mut rng = Rng::new(spec.seed, index as u64);
    let mut price = (rng.range(10f64.ln(), 500f64.ln())).exp();
    let mu = rng.range(-0.05, 0.15);
    let sigma = rng.range(0.15, 0.60);
    let base_volume = rng.range(2e5f64.ln(), 2e7f64.ln()).exp();
    let steps_per_day = match spec.interval {
        BarInterval::Daily => 1,
        BarInterval::Minute => SESSION_MINUTES,
    };
    let dt = 1.0 / (TRADING_DAYS * steps_per_day as f64);
    let step_sd = sigma * dt.sqrt();
    let drift = (mu - 0.5 * sigma * sigma) * dt;
    let volume_scale = base_volume / steps_per_day as f64;

    let mut clean = Vec::with_capacity(sessions.len() * steps_per_day as usize);
    for date in sessions {
        for step in 0..steps_per_day {
            let open = price * (0.2 * step_sd * rng.normal()).exp();
            let close = open * (drift + step_sd * rng.normal()).exp();
            let high = open.max(close) * (0.5 * step_sd * rng.normal().abs()).exp();
            let low = open.min(close) * (-0.5 * step_sd * rng.normal().abs()).exp();
            let ret = (close / price).ln().abs();
            let volume = (volume_scale * (0.3 * rng.normal()).exp() * (1.0 + 20.0 * ret)).round() as i64;
            price = close;
            let ts = match spec.interval {
                BarInterval::Daily => new_york_micros(*date, 16, 0),
                BarInterval::Minute => new_york_micros(*date, 9 + (30 + step) / 60, (30 + step) % 60),
            };
            clean.push(Bar {
                ts,
                year: date.year(),
                open: Some(cents(open)),
                high: Some(cents(high)),
                low: Some(cents(low)),
                close: Some(cents(close)),
                volume: volume.max(1),
            });
        }
    }
    if spec.defect_rate <= 0.0 {
        return clean;
    }

    let mut out = Vec::with_capacity(clean.len() + clean.len() / 50);
    // Rows held back to be written after the next few rows.
    let mut delayed: Vec<(usize, Bar)> = Vec::new();
    for (i, mut bar) in clean.into_iter().enumerate() {
        let mut duplicate = false;
        if rng.uniform() < spec.defect_rate {
            match rng.below(6) {
                0 => {
                    duplicate = true;
                    counts.duplicates += 1;
                }
                1 => {
                    match rng.below(4) {
                        0 => bar.open = None,
                        1 => bar.high = None,
                        2 => bar.low = None,
                        _ => bar.close = None,
                    }
                    counts.null_prices += 1;
                }
                2 => {
                    let bad = if rng.below(2) == 0 {
                        0.0
                    } else {
                        -bar.close.unwrap_or(1.0)
                    };
                    if rng.below(2) == 0 {
                        bar.close = Some(bad);
                    } else {
                        bar.low = Some(bad);
                    }
                    counts.non_positive_prices += 1;
                }
                3 => {
                    let (h, l) = (bar.high.unwrap_or(1.0), bar.low.unwrap_or(1.0));
                    bar.high = Some(cents(l * 0.98));
                    bar.low = Some(cents(h * 1.02));
                    counts.high_below_low += 1;
                }
                4 => {
                    for p in [&mut bar.open, &mut bar.high, &mut bar.low, &mut bar.close] {
                        *p = p.map(|x| x * 50.0);
                    }
                    counts.spikes += 1;
                }
                _ => {
                    delayed.push((i + 1 + rng.below(5) as usize, bar));
                    counts.out_of_order += 1;
                    continue;
                }
            }
        }
        out.push(bar);
        if duplicate {
            out.push(bar);
        }
        delayed.retain(|(due, held)| {
            if *due <= i {
                out.push(*held);
                false
            } else {
                true
            }
        });
    }
    out.extend(delayed.into_iter().map(|(_, b)| b));
    out
}

fn to_batch(schema: &SchemaRef, symbols: &[(String, Vec<Bar>)]) -> Result<RecordBatch, ArrowError> {
    let rows: usize = symbols.iter().map(|(_, b)| b.len()).sum();
    let mut symbol = StringBuilder::with_capacity(rows, rows * 4);
    let mut ts = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    let mut open = Float64Builder::with_capacity(rows);
    let mut high = Float64Builder::with_capacity(rows);
    let mut low = Float64Builder::with_capacity(rows);
    let mut close = Float64Builder::with_capacity(rows);
    let mut volume = Int64Builder::with_capacity(rows);
    let mut year = Int32Builder::with_capacity(rows);
    for (name, bars) in symbols {
        for b in bars {
            symbol.append_value(name);
            ts.append_value(b.ts);
            open.append_option(b.open);
            high.append_option(b.high);
            low.append_option(b.low);
            close.append_option(b.close);
            volume.append_value(b.volume);
            year.append_value(b.year);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(symbol.finish()),
        Arc::new(ts.finish()),
        Arc::new(open.finish()),
        Arc::new(high.finish()),
        Arc::new(low.finish()),
        Arc::new(close.finish()),
        Arc::new(volume.finish()),
        Arc::new(year.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns)
}

/// Generate the data described by `spec`, using every core; the output depends only on `spec`. Everything is
/// held in memory: for large data, [`generate_each`].
pub fn generate(spec: &MarketSpec) -> Result<Generated, ArrowError> {
    let mut batches = Vec::new();
    let (rows, defects) = generate_each(spec, |b| {
        batches.push(b);
        Ok(())
    })?;
    Ok(Generated {
        schema: market_schema(),
        batches,
        rows,
        defects,
    })
}

/// Generate the data described by `spec` and hand its batches to `emit` in order (the batches of
/// [`generate`]), holding at most [`WAVE_GROUPS`] groups per core in memory: 200 M minute bars need no more
/// memory than 2 M. Returns the rows and the defects injected.
pub fn generate_each(
    spec: &MarketSpec,
    mut emit: impl FnMut(RecordBatch) -> Result<(), ArrowError>,
) -> Result<(usize, DefectCounts), ArrowError> {
    if spec.symbols == 0 || spec.symbols > 26usize.pow(4) {
        return Err(ArrowError::InvalidArgumentError(format!(
            "--symbols must be between 1 and {}, got {}",
            26usize.pow(4),
            spec.symbols
        )));
    }
    if spec.end < spec.start {
        return Err(ArrowError::InvalidArgumentError(format!(
            "--end {} is before --start {}",
            spec.end, spec.start
        )));
    }
    if !(0.0..=1.0).contains(&spec.defect_rate) {
        return Err(ArrowError::InvalidArgumentError(format!(
            "--defect-rate must be within [0, 1], got {}",
            spec.defect_rate
        )));
    }
    let schema = market_schema();
    let sessions = Nyse.sessions(spec.start, spec.end);
    let rows_per_symbol = sessions.len().max(1)
        * match spec.interval {
            BarInterval::Daily => 1,
            BarInterval::Minute => SESSION_MINUTES as usize,
        };
    let per_group = (128 * 1024 / rows_per_symbol).clamp(1, spec.symbols);
    let groups = spec.symbols.div_ceil(per_group);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(groups);
    let wave = threads * WAVE_GROUPS;

    let mut defects = DefectCounts::default();
    let mut rows = 0;
    for first in (0..groups).step_by(wave) {
        let last = (first + wave).min(groups);
        let next = AtomicUsize::new(first);
        let mut results: Vec<(usize, Result<RecordBatch, ArrowError>, DefectCounts)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let g = next.fetch_add(1, Ordering::Relaxed);
                            if g >= last {
                                break done;
                            }
                            let mut counts = DefectCounts::default();
                            let lo = g * per_group;
                            let hi = ((g + 1) * per_group).min(spec.symbols);
                            let symbols: Vec<(String, Vec<Bar>)> = (lo..hi)
                                .map(|i| (ticker(i), symbol_bars(spec, &sessions, i, &mut counts)))
                                .collect();
                            done.push((g, to_batch(&schema, &symbols), counts));
                        }
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        if results.len() != last - first {
            return Err(ArrowError::ComputeError("a generator thread panicked".into()));
        }
        results.sort_by_key(|(g, _, _)| *g);
        for (_, batch, counts) in results {
            let batch = batch?;
            rows += batch.num_rows();
            defects.add(&counts);
            emit(batch)?;
        }
    }
    Ok((rows, defects))
}

/// Groups (of about 128 Ki rows) each core generates before the wave is handed on.
const WAVE_GROUPS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use datafusion::arrow::ipc::writer::StreamWriter;

    fn spec(seed: u64, defect_rate: f64) -> MarketSpec {
        MarketSpec {
            symbols: 7,
            start: NaiveDate::from_ymd_opt(2023, 12, 20).unwrap(),
            end: NaiveDate::from_ymd_opt(2024, 7, 10).unwrap(),
            seed,
            defect_rate,
            interval: BarInterval::Daily,
        }
    }

    fn ipc_bytes(g: &Generated) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut w = StreamWriter::try_new(&mut buf, &g.schema).unwrap();
        for b in &g.batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        buf
    }

    #[test]
    fn same_seed_gives_the_same_bytes() {
        let a = generate(&spec(11, 0.05)).unwrap();
        let b = generate(&spec(11, 0.05)).unwrap();
        let c = generate(&spec(12, 0.05)).unwrap();
        assert_eq!(ipc_bytes(&a), ipc_bytes(&b));
        assert_ne!(ipc_bytes(&a), ipc_bytes(&c));
        assert_eq!(a.defects, b.defects);
    }

    #[test]
    fn clean_bars_are_consistent_and_only_on_sessions() {
        let g = generate(&spec(3, 0.0)).unwrap();
        let sessions = Nyse.sessions(spec(3, 0.0).start, spec(3, 0.0).end);
        assert_eq!(g.rows, 7 * sessions.len());
        for batch in &g.batches {
            let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
            let col = |i: usize| batch.column(i).as_primitive::<Float64Type>().clone();
            let (open, high, low, close) = (col(2), col(3), col(4), col(5));
            for r in 0..batch.num_rows() {
                let (o, h, l, c) = (open.value(r), high.value(r), low.value(r), close.value(r));
                assert!(l > 0.0 && l <= o.min(c) && h >= o.max(c), "row {r}: {o} {h} {l} {c}");
                let day = chrono::DateTime::from_timestamp_micros(ts.value(r))
                    .unwrap()
                    .date_naive();
                assert!(Nyse.is_session(day), "{day} is not a session");
            }
            assert_eq!(open.null_count(), 0);
        }
        // 2024-01-15 (Martin Luther King Jr. Day) and 2023-12-25 produce no bars.
        assert!(!sessions.contains(&NaiveDate::from_ymd_opt(2024, 1, 15).unwrap()));
    }

    #[test]
    fn defects_are_counted_as_injected() {
        let clean = generate(&spec(5, 0.0)).unwrap();
        let dirty = generate(&spec(5, 0.2)).unwrap();
        let d = dirty.defects;
        assert!(
            d.duplicates > 0 && d.null_prices > 0 && d.spikes > 0 && d.out_of_order > 0,
            "{d:?}"
        );
        assert_eq!(dirty.rows as u64, clean.rows as u64 + d.duplicates);
        let nulls: usize = dirty
            .batches
            .iter()
            .map(|b| (2..6).map(|i| b.column(i).null_count()).sum::<usize>())
            .sum();
        assert_eq!(nulls as u64, d.null_prices);
    }

    #[test]
    fn minute_bars_cover_the_regular_session() {
        let mut s = spec(1, 0.0);
        s.symbols = 1;
        s.start = NaiveDate::from_ymd_opt(2024, 7, 1).unwrap();
        s.end = s.start;
        s.interval = BarInterval::Minute;
        let g = generate(&s).unwrap();
        assert_eq!(g.rows, 390);
        let ts = g.batches[0].column(1).as_primitive::<TimestampMicrosecondType>();
        let first = chrono::DateTime::from_timestamp_micros(ts.value(0)).unwrap();
        let last = chrono::DateTime::from_timestamp_micros(ts.value(389)).unwrap();
        // July: New York is UTC-4, so 09:30 and 15:59 local are 13:30 and 19:59 UTC.
        assert_eq!(first.format("%H:%M").to_string(), "13:30");
        assert_eq!(last.format("%H:%M").to_string(), "19:59");
    }

    #[test]
    fn rejects_bad_specs() {
        let mut s = spec(1, 0.0);
        s.defect_rate = 1.5;
        assert!(generate(&s).is_err());
        let mut s = spec(1, 0.0);
        s.end = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        assert!(generate(&s).unwrap_err().to_string().contains("before"));
    }

    #[test]
    fn tickers_are_four_letters() {
        assert_eq!(ticker(0), "AAAA");
        assert_eq!(ticker(27), "AABB");
        assert_eq!(ticker(26usize.pow(4) - 1), "ZZZZ");
    }
}
