//! The stock pipeline on a small hand-made dataset, checked against values computed by hand.

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use strata_connectors::delta::WriteMode;
use strata_planner::{Engine, JobEvent, Params, RunMode};
use strata_sql::calendar::{ExchangeCalendar, Nyse};

use crate::*;

/// AAA: 45 clean sessions from 2024-01-02 with close = 100 + i; plus one duplicate of day 3.
/// BBB: one valid bar and one with a zero close. CCC: 10, 500 (a bad tick), 10. DDD: high below low, NULL price.
fn dataset() -> Vec<Row> {
    let sessions = Nyse.sessions(
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
    );
    let mut rows: Vec<Row> = Vec::new();
    for (i, d) in sessions.iter().take(45).enumerate() {
        let c = 100.0 + i as f64;
        rows.push((
            "AAA",
            *d,
            Some(c - 0.5),
            Some(c + 1.0),
            Some(c - 1.5),
            Some(c),
            1000 + i as i64,
        ));
    }
    rows.push(rows[3]);
    rows.swap(10, 20); // out of order in the file
    let d = |i: usize| sessions[i];
    rows.push(("BBB", d(0), Some(5.0), Some(6.0), Some(4.0), Some(5.5), 10));
    rows.push(("BBB", d(1), Some(5.0), Some(6.0), Some(4.0), Some(0.0), 10));
    rows.push(("CCC", d(0), Some(10.0), Some(10.0), Some(10.0), Some(10.0), 1));
    rows.push(("CCC", d(1), Some(500.0), Some(500.0), Some(500.0), Some(500.0), 1));
    rows.push(("CCC", d(2), Some(10.0), Some(10.0), Some(10.0), Some(10.0), 1));
    rows.push(("DDD", d(0), Some(10.0), Some(9.0), Some(11.0), Some(10.0), 1));
    rows.push(("DDD", d(1), Some(10.0), None, Some(9.0), Some(10.0), 1));
    rows
}

fn f64s(batches: &[datafusion::arrow::array::RecordBatch], col: &str) -> Vec<Option<f64>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(col).unwrap().as_primitive::<Float64Type>().clone();
            (0..a.len())
                .map(move |i| if a.is_null(i) { None } else { Some(a.value(i)) })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[tokio::test]
async fn stock_pipeline_matches_hand_computed_values() {
    hand_computed_values(Engine::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_pipeline_matches_hand_computed_values_on_an_in_process_cluster() {
    hand_computed_values(Engine::Standalone).await;
}

async fn hand_computed_values(engine: Engine) {
    let wh = tempfile::tempdir().unwrap();
    write_bronze(wh.path(), &dataset(), WriteMode::Overwrite).await;
    let (summary, _) = run_sql_on(&pipeline_sql(), wh.path(), &Params::default(), engine).await;
    let summary = summary.unwrap();
    let written = |t: &str| summary.outputs.iter().find(|o| o.table == t).map(|o| o.rows_written);
    // Cleaning keeps AAA's 45 sessions, BBB's valid bar and CCC's two good ticks.
    assert_eq!(written("silver.daily_bars"), Some(48));
    assert_eq!(written("gold.daily_indicators"), Some(48));
    assert_eq!(written("gold.sector_strength"), Some(48));
    assert_eq!(summary.outputs.len(), 11);

    let daily = query_table(
        wh.path(),
        "silver.daily_bars",
        "WHERE symbol <> 'AAA' ORDER BY symbol, ts",
    )
    .await;
    assert_eq!(
        pretty(&daily)
            .lines()
            .filter(|l| l.contains("| BBB") || l.contains("| CCC"))
            .count(),
        3,
        "{}",
        pretty(&daily)
    );
    assert_eq!(f64s(&daily, "close"), vec![Some(5.5), Some(10.0), Some(10.0)]);

    // First AAA week: Tue 2024-01-02 .. Fri 01-05 (New Year's Day closed), sessions i = 0..3.
    let weekly = query_table(
        wh.path(),
        "silver.weekly_bars",
        "WHERE symbol = 'AAA' ORDER BY week_start LIMIT 1",
    )
    .await;
    let text = pretty(&weekly);
    assert!(text.contains("2024-01-01"), "{text}");
    assert_eq!(f64s(&weekly, "open"), vec![Some(99.5)]);
    assert_eq!(f64s(&weekly, "close"), vec![Some(103.0)]);
    assert_eq!(f64s(&weekly, "high"), vec![Some(104.0)]);
    assert_eq!(f64s(&weekly, "low"), vec![Some(98.5)]);
    let vol = weekly[0]
        .column_by_name("volume")
        .unwrap()
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(vol, 1000 + 1001 + 1002 + 1003);

    // January 2024 has 21 sessions (MLK Day closed): i = 0..20.
    let monthly = query_table(
        wh.path(),
        "silver.monthly_bars",
        "WHERE symbol = 'AAA' ORDER BY month_start",
    )
    .await;
    assert_eq!(f64s(&monthly, "open")[0], Some(99.5));
    assert_eq!(f64s(&monthly, "close")[0], Some(120.0));
    assert_eq!(f64s(&monthly, "high")[0], Some(121.0));
    let sessions = monthly[0]
        .column_by_name("sessions")
        .unwrap()
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(sessions, 21);

    let ind = query_table(
        wh.path(),
        "gold.daily_indicators",
        "WHERE symbol = 'AAA' ORDER BY trade_date",
    )
    .await;
    let sma20 = f64s(&ind, "sma_20");
    let vol20 = f64s(&ind, "volatility_20");
    assert_eq!(sma20.len(), 45);
    assert!(sma20[..19].iter().all(Option::is_none), "warm-up rows must be NULL");
    assert!(close(sma20[19].unwrap(), 109.5)); // mean of 100..=119
    assert!(close(sma20[44].unwrap(), 134.5)); // mean of 125..=144
    assert!(f64s(&ind, "sma_50").iter().all(Option::is_none));
    assert!(f64s(&ind, "sma_200").iter().all(Option::is_none));
    // Volatility needs 20 log returns; the first return is on day 1, so day 20 is the first value.
    assert!(vol20[..20].iter().all(Option::is_none));
    let returns: Vec<f64> = (1..=20)
        .map(|i| ((100.0 + i as f64) / (99.0 + i as f64)).ln())
        .collect();
    let mean = returns.iter().sum::<f64>() / 20.0;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 19.0;
    assert!(
        close(vol20[20].unwrap(), var.sqrt() * 252f64.sqrt()),
        "{:?} vs {}",
        vol20[20],
        var.sqrt() * 252f64.sqrt()
    );
    // A steadily rising series: RSI 100 once warm, slope 1 per session, ROC(10) = 10 / (100 + i - 10) %.
    let rsi = f64s(&ind, "rsi_14");
    assert!(rsi[..14].iter().all(Option::is_none) && rsi[14..].iter().all(|v| *v == Some(100.0)));
    assert!(
        f64s(&ind, "trend_slope_20")[19..]
            .iter()
            .all(|v| close(v.unwrap(), 1.0))
    );
    assert!(close(f64s(&ind, "roc_10")[30].unwrap(), 10.0 / 120.0 * 100.0));
}

#[tokio::test]
async fn fibonacci_bars_hold_consecutive_sessions() {
    let wh = tempfile::tempdir().unwrap();
    write_bronze(wh.path(), &dataset(), WriteMode::Overwrite).await;
    run_sql(&pipeline_sql(), wh.path(), &Params::default()).await.0.unwrap();
    for n in [3i64, 5, 8, 13, 21, 34] {
        let bars = query_table(
            wh.path(),
            &format!("silver.bars_{n}d"),
            "WHERE symbol = 'AAA' ORDER BY bar_start",
        )
        .await;
        let sessions: Vec<i64> = bars
            .iter()
            .flat_map(|b| {
                b.column_by_name("sessions")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        // AAA has 45 consecutive sessions: every bucket but the first and last is full, and they add up.
        assert_eq!(sessions.iter().sum::<i64>(), 45, "{n}");
        assert!(
            sessions[1..sessions.len() - 1].iter().all(|&s| s == n),
            "{n}: {sessions:?}"
        );
        // close = 100 + i, open = close - 0.5: a full bucket spans n sessions.
        let (open, close_) = (f64s(&bars, "open"), f64s(&bars, "close"));
        for k in 1..sessions.len() - 1 {
            assert_eq!(close_[k].unwrap() - open[k].unwrap(), n as f64 - 0.5, "{n} bucket {k}");
        }
    }
}

#[tokio::test]
async fn independent_stages_run_concurrently() {
    let wh = tempfile::tempdir().unwrap();
    write_bronze(wh.path(), &dataset(), WriteMode::Overwrite).await;
    let (summary, events) = run_sql(&pipeline_sql(), wh.path(), &Params::default()).await;
    summary.unwrap();
    let pos = |want: &dyn Fn(&JobEvent) -> bool| events.iter().position(want).unwrap();
    let started = |n: &'static str| move |e: &JobEvent| matches!(e, JobEvent::StageStarted { name, .. } if name == n);
    let finished = |n: &'static str| move |e: &JobEvent| matches!(e, JobEvent::StageFinished { name, .. } if name == n);
    // weekly, monthly and indicators all read daily_bars only: all three start before any of them finishes.
    let first_finish = ["silver.weekly_bars", "silver.monthly_bars", "gold.daily_indicators"]
        .into_iter()
        .map(|n| pos(&finished(n)))
        .min()
        .unwrap();
    for n in ["silver.weekly_bars", "silver.monthly_bars", "gold.daily_indicators"] {
        assert!(pos(&started(n)) < first_finish, "{n} started late: {events:?}");
        assert!(pos(&started(n)) > pos(&finished("silver.daily_bars")));
    }
}

#[tokio::test]
async fn rerun_with_same_inputs_gives_identical_tables() {
    let wh = tempfile::tempdir().unwrap();
    write_bronze(wh.path(), &dataset(), WriteMode::Overwrite).await;
    let mut snapshots = Vec::new();
    // A first run, an incremental run with nothing new (it reads the source's lateness window again and rewrites
    // what depends on it, to the same rows), and a full refresh (rewrites all).
    let modes = [RunMode::Incremental, RunMode::Incremental, RunMode::FullRefresh];
    for (i, mode) in modes.into_iter().enumerate() {
        crate::run_sql_with(&pipeline_sql(), wh.path(), &Params::default(), Engine::Embedded, mode)
            .await
            .0
            .unwrap();
        assert_eq!(table_version(wh.path(), "gold.daily_indicators").await, Some(i as u64));
        let mut tables = Vec::new();
        for t in [
            "silver.daily_bars",
            "silver.weekly_bars",
            "silver.monthly_bars",
            "gold.daily_indicators",
        ] {
            tables.push(pretty(&query_table(wh.path(), t, "ORDER BY 1, 2").await));
        }
        snapshots.push(tables);
    }
    assert_eq!(snapshots[0], snapshots[1]);
    assert_eq!(snapshots[0], snapshots[2]);
}
