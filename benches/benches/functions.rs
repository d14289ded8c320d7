//! Criterion benchmarks per function family: indicator kernels on one long series, and the SQL functions through
//! DataFusion on many symbols (indicators under one window, session and calendar bars, bad-tick cleaning).

// A benchmark crate: a failed unwrap stops the benchmark with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use strata_benches::session;
use strata_sql::functions::indicators::kernels;
use strata_sql::testing::random_walk;

fn indicator_kernels(c: &mut Criterion) {
    let x = random_walk(100_000, 42);
    let high: Vec<f64> = x.iter().map(|v| v * 1.01).collect();
    let low: Vec<f64> = x.iter().map(|v| v * 0.99).collect();
    let mut g = c.benchmark_group("indicators/100k");
    g.bench_function("sma_200", |b| b.iter(|| kernels::sma(black_box(&x), 200)));
    g.bench_function("ema_26", |b| b.iter(|| kernels::ema(black_box(&x), 26)));
    g.bench_function("wma_20", |b| b.iter(|| kernels::wma(black_box(&x), 20)));
    g.bench_function("rsi_14", |b| b.iter(|| kernels::rsi(black_box(&x), 14)));
    g.bench_function("macd_12_26_9", |b| b.iter(|| kernels::macd(black_box(&x), 12, 26, 9)));
    g.bench_function("bbands_20", |b| b.iter(|| kernels::bbands(black_box(&x), 20, 2.0, 2.0)));
    g.bench_function("atr_14", |b| b.iter(|| kernels::atr(black_box(&high), &low, &x, 14)));
    g.bench_function("linearreg_slope_20", |b| {
        b.iter(|| kernels::linearreg_slope(black_box(&x), 20))
    });
    g.finish();
}

fn sql_families(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ctx = session(100, 2520).expect("session");
    let run = |q: &'static str| {
        let ctx = ctx.clone();
        let rt = &rt;
        move || rt.block_on(async { ctx.sql(q).await.expect("plan").collect().await.expect("run").len() })
    };
    let mut g = c.benchmark_group("sql/100x2520");
    g.sample_size(10);
    g.bench_function("indicators_one_window", |b| {
        b.iter(run("SELECT symbol, ts, sma(close, 20) OVER w, sma(close, 200) OVER w, rsi(close, 14) OVER w, \
                    macd_hist(close, 12, 26, 9) OVER w, bbands_upper(close, 20, 2) OVER w, atr(high, low, close, 14) OVER w, \
                    volatility(close, 20) OVER w FROM prices WINDOW w AS (PARTITION BY symbol ORDER BY ts)"))
    });
    g.bench_function("fibonacci_8d_bars", |b| {
        b.iter(run(
            "SELECT symbol, session_bucket(ts, 8), ohlcv(ts, open, high, low, close, volume) FROM prices GROUP BY 1, 2",
        ))
    });
    g.bench_function("weekly_bars", |b| {
        b.iter(run(
            "SELECT symbol, calendar_bucket(ts, 'week', 'America/New_York'), ohlcv(ts, open, high, low, close, volume) \
                    FROM prices GROUP BY 1, 2",
        ))
    });
    g.bench_function("clean_bad_ticks", |b| {
        b.iter(run(
            "SELECT * FROM prices WHERE ohlc_valid(open, high, low, close, volume) \
                    QUALIFY NOT return_spike(close, 5) OVER (PARTITION BY symbol ORDER BY ts)",
        ))
    });
    g.finish();
}

criterion_group!(benches, indicator_kernels, sql_families);
criterion_main!(benches);
