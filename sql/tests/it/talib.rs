//! Every indicator against TA-Lib (or numpy for the ones TA-Lib lacks), through SQL, on real-looking series
//! with NULLs, gaps and partitions shorter than the windows: to 1e-9 relative, warm-up rows included.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::datasource::MemTable;
use serde_json::{Value, json};
use strata_sql::testing::{XorShift, five_day_week, key_fields};

use crate::*;

#[derive(Clone)]
struct Row {
    symbol: &'static str,
    ts: i64,
    close: Option<f64>,
    high: Option<f64>,
    low: Option<f64>,
    volume: Option<f64>,
    bench: Option<f64>,
}

/// Random walks; B has NULL closes and highs, C and D are shorter than most windows, E starts flat.
fn dataset() -> Vec<Row> {
    let mut rng = XorShift::new(0x5eed_1234_abcd_0001);
    let mut rows = Vec::new();
    for (symbol, len, null_rate, start) in [
        ("A", 420, 0.0, 100.0),
        ("B", 320, 0.07, 35.0),
        ("C", 12, 0.0, 10.0),
        ("D", 1, 0.0, 5.0),
        ("E", 90, 0.0, 50.0),
    ] {
        let (mut price, mut bench) = (start, 1000.0);
        for i in 0..len {
            let flat = symbol == "E" && i < 40;
            if !flat {
                price *= (0.012 * rng.normal()).exp();
            }
            bench *= (0.008 * rng.normal()).exp();
            let spread = price * 0.01 * rng.uniform();
            let mut row = Row {
                symbol,
                // Gaps in time (weekends, holidays) do not matter: indicators count rows.
                ts: five_day_week(1_700_000_000_000_000, i as i64),
                close: Some(price),
                high: Some(if flat { price } else { price + spread }),
                low: Some(if flat { price } else { price - spread * rng.uniform() }),
                volume: Some((1000.0 + 9000.0 * rng.uniform()).round()),
                bench: Some(bench),
            };
            if rng.uniform() < null_rate {
                row.close = None;
            }
            if rng.uniform() < null_rate / 2.0 {
                row.high = None;
            }
            rows.push(row);
        }
    }
    // Shuffle the storage order: window functions must order by ts themselves.
    rows.reverse();
    rows
}

fn table(rows: &[Row]) -> MemTable {
    let values = ["close", "high", "low", "volume", "bench"].map(|name| Field::new(name, DataType::Float64, true));
    let schema = Arc::new(Schema::new(key_fields().into_iter().chain(values).collect::<Vec<_>>()));
    let f = |g: fn(&Row) -> Option<f64>| Arc::new(Float64Array::from_iter(rows.iter().map(g)));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.symbol))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.ts)).with_timezone("UTC")),
            f(|r| r.close),
            f(|r| r.high),
            f(|r| r.low),
            f(|r| r.volume),
            f(|r| r.bench),
        ],
    )
    .unwrap();
    MemTable::try_new(schema, vec![vec![batch]]).unwrap()
}

/// (column id, SQL call, reference function, reference arguments, output index, input columns)
type Call = (
    &'static str,
    &'static str,
    &'static str,
    Value,
    usize,
    &'static [&'static str],
);

fn calls() -> Vec<Call> {
    const C: &[&str] = &["close"];
    const HLC: &[&str] = &["high", "low", "close"];
    const CV: &[&str] = &["close", "volume"];
    const CB: &[&str] = &["close", "bench"];
    vec![
        ("sma20", "sma(close, 20)", "SMA", json!({"timeperiod": 20}), 0, C),
        ("sma_default", "sma(close)", "SMA", json!({}), 0, C),
        ("ema12", "ema(close, 12)", "EMA", json!({"timeperiod": 12}), 0, C),
        ("ema1", "ema(close, 1)", "EMA", json!({"timeperiod": 1}), 0, C),
        ("wma10", "wma(close, 10)", "WMA", json!({"timeperiod": 10}), 0, C),
        ("rsi14", "rsi(close, 14)", "RSI", json!({"timeperiod": 14}), 0, C),
        ("rsi3", "rsi(close, 3)", "RSI", json!({"timeperiod": 3}), 0, C),
        (
            "macd_line",
            "macd_line(close, 12, 26, 9)",
            "MACD",
            json!({"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
            0,
            C,
        ),
        (
            "macd_signal",
            "macd_signal(close)",
            "MACD",
            json!({"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
            1,
            C,
        ),
        (
            "macd_hist",
            "macd_hist(close, 12, 26, 9)",
            "MACD",
            json!({"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
            2,
            C,
        ),
        (
            "macd_small",
            "macd_hist(close, 3, 6, 2)",
            "MACD",
            json!({"fastperiod": 3, "slowperiod": 6, "signalperiod": 2}),
            2,
            C,
        ),
        (
            "macd_sig1",
            "macd_signal(close, 4, 9, 1)",
            "MACD",
            json!({"fastperiod": 4, "slowperiod": 9, "signalperiod": 1}),
            1,
            C,
        ),
        (
            "bb_upper",
            "bbands_upper(close, 20, 2)",
            "BBANDS",
            json!({"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}),
            0,
            C,
        ),
        (
            "bb_middle",
            "bbands_middle(close, 20, 2)",
            "BBANDS",
            json!({"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}),
            1,
            C,
        ),
        (
            "bb_lower",
            "bbands_lower(close, 5, 1.5)",
            "BBANDS",
            json!({"timeperiod": 5, "nbdevup": 1.5, "nbdevdn": 1.5, "matype": 0}),
            2,
            C,
        ),
        (
            "atr14",
            "atr(high, low, close, 14)",
            "ATR",
            json!({"timeperiod": 14}),
            0,
            HLC,
        ),
        (
            "atr1",
            "atr(high, low, close, 1)",
            "ATR",
            json!({"timeperiod": 1}),
            0,
            HLC,
        ),
        ("roc10", "roc(close, 10)", "ROC", json!({"timeperiod": 10}), 0, C),
        (
            "slope14",
            "linearreg_slope(close, 14)",
            "LINEARREG_SLOPE",
            json!({"timeperiod": 14}),
            0,
            C,
        ),
        ("obv", "obv(close, volume)", "OBV", json!({}), 0, CV),
        (
            "vol20",
            "volatility(close, 20)",
            "VOLATILITY",
            json!({"period": 20, "periods_per_year": 252}),
            0,
            C,
        ),
        (
            "vwap10",
            "vwap(close, volume, 10)",
            "VWAP",
            json!({"period": 10}),
            0,
            CV,
        ),
        (
            "rs20",
            "relative_strength(close, bench, 20)",
            "RELATIVE_STRENGTH",
            json!({"period": 20}),
            0,
            CB,
        ),
    ]
}

fn column(r: &Row, name: &str) -> Option<f64> {
    match name {
        "close" => r.close,
        "high" => r.high,
        "low" => r.low,
        "volume" => r.volume,
        "bench" => r.bench,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn every_indicator_matches_the_reference_implementation() {
    let rows = dataset();
    let ctx = ctx();
    ctx.register_table("prices", Arc::new(table(&rows))).unwrap();
    let calls = calls();
    let select: Vec<String> = calls
        .iter()
        .map(|(id, call, ..)| format!("{call} OVER w AS {id}"))
        .collect();
    let query = format!(
        "SELECT symbol, ts, {} FROM prices WINDOW w AS (PARTITION BY symbol ORDER BY ts) ORDER BY symbol, ts",
        select.join(", ")
    );
    let batches = sql(&ctx, &query).await.unwrap();

    // Rows per symbol in time order, as the reference sees them.
    let mut ordered = rows.clone();
    ordered.sort_by(|a, b| (a.symbol, a.ts).cmp(&(b.symbol, b.ts)));
    let symbols: Vec<&str> = {
        let mut s: Vec<&str> = ordered.iter().map(|r| r.symbol).collect();
        s.dedup();
        s
    };

    // One reference case per (symbol, input set): the rows where those inputs are all present.
    let mut cases = Vec::new();
    let mut layout = Vec::new(); // (symbol, inputs, row positions in `ordered`)
    for sym in &symbols {
        let mut input_sets: Vec<&[&str]> = calls.iter().map(|c| c.5).collect();
        input_sets.dedup();
        input_sets.sort();
        input_sets.dedup();
        for inputs in input_sets {
            let positions: Vec<usize> = ordered
                .iter()
                .enumerate()
                .filter(|(_, r)| r.symbol == *sym && inputs.iter().all(|c| column(r, c).is_some()))
                .map(|(i, _)| i)
                .collect();
            let mut series = serde_json::Map::new();
            for c in inputs {
                series.insert(
                    c.to_string(),
                    json!(positions.iter().map(|&i| column(&ordered[i], c)).collect::<Vec<_>>()),
                );
            }
            let case_calls: Vec<Value> = calls
                .iter()
                .filter(|c| c.5 == inputs)
                .map(|(id, _, f, args, out, _)| json!({"id": id, "fn": f, "args": args, "output": out}))
                .collect();
            cases.push(json!({"series": series, "calls": case_calls}));
            layout.push((*sym, inputs, positions));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.json"), dir.path().join("out.json"));
    std::fs::write(&input, json!({ "cases": cases }).to_string()).unwrap();
    let script = std::path::Path::new(
        &std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../dev/talib_reference.py");
    let status = std::process::Command::new(python())
        .arg(script)
        .arg(&input)
        .arg(&output)
        .status()
        .unwrap();
    assert!(status.success(), "reference script failed");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(reference["versions"]["ta-lib"], "0.8.2");

    // Expected value per (call, row of `ordered`): NULL unless the reference produced one for that row.
    let n = ordered.len();
    let mut compared = 0;
    let mut non_null = 0;
    for (id, ..) in &calls {
        let mut expected: Vec<Option<f64>> = vec![None; n];
        for ((_, inputs, positions), case) in layout.iter().zip(reference["cases"].as_array().unwrap()) {
            if !calls.iter().any(|c| c.0 == *id && c.5 == *inputs) {
                continue;
            }
            for (k, v) in case[*id].as_array().unwrap().iter().enumerate() {
                expected[positions[k]] = v.as_f64();
            }
        }
        let mut got = Vec::with_capacity(n);
        for b in &batches {
            let a = b.column_by_name(id).unwrap().as_primitive::<Float64Type>();
            got.extend((0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))));
        }
        assert_eq!(got.len(), n);
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            let r = &ordered[i];
            match (g, e) {
                (None, None) => {}
                (Some(g), Some(e)) => {
                    let tolerance = 1e-9 * e.abs().max(1e-6);
                    assert!(
                        (g - e).abs() <= tolerance,
                        "{id} {} row {i}: strata {g} vs reference {e}",
                        r.symbol
                    );
                    non_null += 1;
                }
                _ => panic!(
                    "{id} {} row {i} (close {:?}): strata {g:?} vs reference {e:?}",
                    r.symbol, r.close
                ),
            }
            compared += 1;
        }
    }
    assert_eq!(compared, calls.len() * n);
    assert!(non_null > calls.len() * 300, "too few values compared: {non_null}");
}

#[tokio::test]
async fn null_rows_are_skipped_not_poisoning() {
    let ctx = ctx();
    let b = sql(
        &ctx,
        "SELECT sma(x, 2) OVER (ORDER BY t) AS s FROM (VALUES (1, 1.0), (2, NULL), (3, 3.0), (4, 5.0)) AS v(t, x) ORDER BY t",
    )
    .await
    .unwrap();
    let s = b[0].column(0).as_primitive::<Float64Type>();
    // The NULL row gets NULL; the window skips it: (1 + 3) / 2, then (3 + 5) / 2.
    let got: Vec<Option<f64>> = (0..s.len()).map(|i| s.is_valid(i).then(|| s.value(i))).collect();
    assert_eq!(got, vec![None, None, Some(2.0), Some(4.0)]);
}
