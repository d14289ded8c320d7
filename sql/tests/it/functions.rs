//! Resampling, calendar and cleaning functions through SQL, and the planning errors of bad calls.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::*;

const TICKS: &str = "(VALUES \
    ('X', TIMESTAMP '2024-01-03T15:00:00Z', 11.0, 12.0, 10.5, 11.5, 100.0), \
    ('X', TIMESTAMP '2024-01-02T15:00:00Z', 10.0, 11.0,  9.0, 10.5, 300.0), \
    ('X', TIMESTAMP '2024-01-05T15:00:00Z', 12.0, 14.0, 11.0, 13.0, 100.0), \
    ('X', TIMESTAMP '2024-01-08T15:00:00Z', 13.0, 13.5, 12.0, 12.5, 50.0)) AS t(symbol, ts, open, high, low, close, volume)";

#[tokio::test]
async fn ohlcv_bars_by_calendar_week_ignore_row_order() {
    let ctx = ctx();
    let q = format!(
        "SELECT calendar_bucket(ts, 'week', 'America/New_York') AS week, ohlcv(ts, open, high, low, close, volume) AS bar \
         FROM {TICKS} GROUP BY 1 ORDER BY 1"
    );
    let b = sql(
        &ctx,
        &format!(
            "SELECT week, bar['open'] AS o, bar['high'] AS h, bar['low'] AS l, bar['close'] AS c, \
                                bar['volume'] AS v, bar['vwap'] AS vwap, bar['trades'] AS n FROM ({q})"
        ),
    )
    .await
    .unwrap();
    // Week of 2024-01-01: rows of Jan 2, 3, 5 (open of Jan 2, close of Jan 5). Typical prices: 10.1667 (×300),
    // 11.3333 (×100), 12.6667 (×100): vwap = (3050 + 1133.33 + 1266.67) / 500 = 10.9.
    let col = |name: &str| -> Vec<f64> {
        b.iter()
            .flat_map(|b| {
                let a = datafusion::arrow::compute::cast(
                    b.column_by_name(name).unwrap(),
                    &datafusion::arrow::datatypes::DataType::Float64,
                )
                .unwrap();
                a.as_primitive::<Float64Type>().values().to_vec()
            })
            .collect()
    };
    assert_eq!(col("o"), vec![10.0, 13.0]);
    assert_eq!(col("h"), vec![14.0, 13.5]);
    assert_eq!(col("l"), vec![9.0, 12.0]);
    assert_eq!(col("c"), vec![13.0, 12.5]);
    assert_eq!(col("v"), vec![500.0, 50.0]);
    assert_eq!(col("n"), vec![3.0, 1.0]);
    let vwap = col("vwap");
    assert!(
        (vwap[0] - 10.9).abs() < 1e-12 && (vwap[1] - 38.0 / 3.0).abs() < 1e-12,
        "{vwap:?}"
    );
    assert!(pretty(&b).contains("2024-01-08"));
}

#[tokio::test]
async fn ohlcv_merges_partial_aggregates_exactly() {
    // Many partitions force partial aggregates that must merge to the same bar; the second configuration makes
    // DataFusion skip partial aggregation (rows go straight to state via convert_to_state).
    let q = "SELECT k, ohlcv(ts, v, v + 1, v - 1, v, 1.0)['open'] AS o, ohlcv(ts, v, v + 1, v - 1, v, 1.0)['close'] AS c, \
             ohlcv(ts, v, v + 1, v - 1, v, 1.0)['trades'] AS n, round(ohlcv(ts, v, v + 2, v - 1, v, 2.0)['vwap'], 6) AS w \
             FROM (SELECT value % 3 AS k, to_timestamp_seconds(value * 60) AS ts, CAST(value AS DOUBLE) AS v \
                   FROM generate_series(1, 30000) ORDER BY random()) GROUP BY k ORDER BY k";
    let mut texts = Vec::new();
    for skip_partial in [false, true] {
        let mut config = SessionConfig::new().with_target_partitions(4);
        if skip_partial {
            config
                .options_mut()
                .execution
                .skip_partial_aggregation_probe_rows_threshold = 1;
            config
                .options_mut()
                .execution
                .skip_partial_aggregation_probe_ratio_threshold = 0.0;
        }
        let ctx = SessionContext::new_with_config(config);
        strata_sql::functions::register_all(&ctx);
        let text = pretty(&sql(&ctx, q).await.unwrap());
        for row in [
            "| 0 | 3.0 | 30000.0 | 10000 | 15001.833333 |",
            "| 1 | 1.0 | 29998.0 | 10000 | 14999.833333 |",
            "| 2 | 2.0 | 29999.0 | 10000 | 15000.833333 |",
        ] {
            assert!(text.contains(row), "{row} missing in\n{text}");
        }
        texts.push(text);
    }
    assert_eq!(texts[0], texts[1]);
}

#[tokio::test]
async fn calendar_buckets_respect_the_time_zone() {
    let ctx = ctx();
    // 2024-01-08 02:00 UTC is Sunday 21:00 in New York: the New York week began on Monday 2024-01-01.
    let b = sql(
        &ctx,
        "SELECT calendar_bucket(TIMESTAMP '2024-01-08T02:00:00' AT TIME ZONE 'UTC', 'week', 'America/New_York') AS ny, \
                calendar_bucket(TIMESTAMP '2024-01-08T02:00:00' AT TIME ZONE 'UTC', 'week') AS utc, \
                calendar_bucket(DATE '2024-08-15', 'quarter') AS q, calendar_bucket(DATE '2024-08-15', 'YEAR') AS y, \
                calendar_bucket(DATE '2024-02-29', 'month') AS m",
    )
    .await
    .unwrap();
    let text = pretty(&b);
    assert!(
        text.contains("| 2024-01-01 | 2024-01-08 | 2024-07-01 | 2024-01-01 | 2024-02-01 |"),
        "{text}"
    );
}

#[tokio::test]
async fn session_buckets_and_the_exchange_calendar() {
    let ctx = ctx();
    let b = sql(
        &ctx,
        "SELECT count(*) AS n, min(session_date) AS first, min(open_time) AS open \
         FROM trading_sessions(DATE '2024-01-01', DATE '2024-12-31')",
    )
    .await
    .unwrap();
    assert!(
        pretty(&b).contains("| 252 | 2024-01-02 | 2024-01-02T14:30:00Z |"),
        "{}",
        pretty(&b)
    );
    let b = sql(
        &ctx,
        "SELECT * FROM exchange_holidays(DATE '2024-01-01', DATE '2024-12-31', 'XNYS') ORDER BY 1 LIMIT 2",
    )
    .await
    .unwrap();
    let text = pretty(&b);
    assert!(
        text.contains("2024-01-01   | New Year's Day") && text.contains("Martin Luther King"),
        "{text}"
    );
    // Buckets of 3 sessions from 2024-01-02: Jan 2-4 | 5, 8, 9 | 10-12 | 16 (MLK Day closed on the 15th) ...
    let b = sql(
        &ctx,
        "SELECT session_date, session_bucket(session_date, 3, DATE '2024-01-02') AS b \
         FROM trading_sessions(DATE '2024-01-02', DATE '2024-01-17') ORDER BY 1",
    )
    .await
    .unwrap();
    let buckets: Vec<String> = pretty(&b)
        .lines()
        .skip(3)
        .filter_map(|l| l.split('|').nth(2))
        .map(|c| c.trim().to_string())
        .collect();
    let want = ["02", "02", "02", "05", "05", "05", "10", "10", "10", "16", "16"];
    assert_eq!(buckets, want.iter().map(|d| format!("2024-01-{d}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn cleaning_functions() {
    let ctx = ctx();
    let b = sql(
        &ctx,
        "SELECT ohlc_valid(10, 11, 9, 10.5, 100) AS ok, ohlc_valid(10, 9, 11, 10, 1) AS high_below_low, \
                ohlc_valid(10, 11, 9, NULL) AS null_close, ohlc_valid(0, 1, 0, 1) AS zero, ohlc_valid(10, 11, 9, 10, -1) AS neg_volume",
    )
    .await
    .unwrap();
    assert!(
        pretty(&b).contains("| true | false          | false      | false | false      |"),
        "{}",
        pretty(&b)
    );
    let b = sql(
        &ctx,
        "SELECT t, return_spike(x, 5) OVER (ORDER BY t) AS spike, zscore(x, 3) OVER (ORDER BY t) AS z \
         FROM (VALUES (1, 10.0), (2, 10.5), (3, 500.0), (4, 520.0), (5, 10.2), (6, 10.1), (7, 9.9)) AS v(t, x) ORDER BY t",
    )
    .await
    .unwrap();
    let spikes: Vec<bool> = b
        .iter()
        .flat_map(|b| b.column(1).as_boolean().iter().map(|v| v.unwrap()).collect::<Vec<_>>())
        .collect();
    assert_eq!(spikes, vec![false, false, true, true, false, false, false]);
    let z = b[0].column(2).as_primitive::<Float64Type>();
    assert!(z.is_null(2) && !z.is_null(3));
}

async fn plan_error(query: &str) -> String {
    let ctx = ctx();
    ctx.register_table(
        "prices",
        Arc::new(
            datafusion::datasource::MemTable::try_new(
                Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
                    datafusion::arrow::datatypes::Field::new(
                        "symbol",
                        datafusion::arrow::datatypes::DataType::Utf8,
                        false,
                    ),
                    datafusion::arrow::datatypes::Field::new(
                        "close",
                        datafusion::arrow::datatypes::DataType::Float64,
                        true,
                    ),
                ])),
                vec![vec![]],
            )
            .unwrap(),
        ),
    )
    .unwrap();
    // Planning only: build the logical plan and optimize it; nothing executes.
    let result = async {
        let plan = ctx.state().create_logical_plan(query).await?;
        ctx.state().optimize(&plan)
    }
    .await;
    result.expect_err("planning must fail").find_root().to_string()
}

#[tokio::test]
async fn bad_arguments_are_planning_errors_naming_the_function() {
    let w = "OVER (PARTITION BY symbol ORDER BY close) FROM prices";
    let e = plan_error(&format!("SELECT sma(close, 0) {w}")).await;
    assert!(
        e.contains("sma: argument 2 (period) must be a positive whole number of rows, got 0"),
        "{e}"
    );
    let e = plan_error(&format!("SELECT ema(close, -5) {w}")).await;
    assert!(
        e.contains("ema: argument 2 (period) must be a positive whole number"),
        "{e}"
    );
    let e = plan_error(&format!("SELECT rsi(close, 2.5) {w}")).await;
    assert!(
        e.contains("rsi: argument 2 (period) must be a positive whole number of rows, got 2.5"),
        "{e}"
    );
    let e = plan_error(&format!("SELECT wma(symbol, 3) {w}")).await;
    assert!(e.contains("wma: argument 1 must be numeric, got Utf8"), "{e}");
    let e = plan_error(&format!("SELECT atr(close, 14) {w}")).await;
    assert!(
        e.contains("atr: expected 3 to 4 argument(s), got 2: atr(high, low, close, period = 14)"),
        "{e}"
    );
    let e = plan_error(&format!("SELECT sma(close, close) {w}")).await;
    assert!(e.contains("sma: argument 2 (period) must be a literal value"), "{e}");
    let e = plan_error(&format!("SELECT macd_line(close, 26, 12, 9) {w}")).await;
    assert!(
        e.contains("macd_line: the fast period (26) must be shorter than the slow period (12)"),
        "{e}"
    );
    let e = plan_error("SELECT session_bucket(DATE '2024-01-02', 0)").await;
    assert!(
        e.contains("session_bucket: the number of sessions must be a positive integer"),
        "{e}"
    );
    let e = plan_error("SELECT calendar_bucket(DATE '2024-01-02', 'fortnight')").await;
    assert!(
        e.contains("calendar_bucket: unit must be day, week, month, quarter or year"),
        "{e}"
    );
    let e = plan_error("SELECT ohlcv(symbol, close, close, close, close, close) FROM prices").await;
    assert!(
        e.contains("ohlcv: argument 1 (time) must be a TIMESTAMP or DATE"),
        "{e}"
    );
}

#[test]
fn reference_page_is_up_to_date() {
    let path = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../docs/functions.md");
    let page = strata_sql::functions::reference_markdown();
    if std::env::var_os("STRATA_BLESS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == page,
        "docs/functions.md is stale: run STRATA_BLESS=1 cargo test -p strata-sql --test it reference"
    );
    for name in [
        "sma",
        "macd_signal",
        "bbands_lower",
        "session_bucket",
        "ohlcv",
        "trading_sessions",
        "return_spike",
    ] {
        assert!(page.contains(&format!("### `{name}`")), "{name} undocumented");
    }
}
