//! The seed pipelines that go from Kafka to PostgreSQL, run from their job files in `jobs/` against the test broker
//! and server, with their values checked against an independent computation (pandas, `dev/check_stock_metrics.py`)
//! over exactly what the test produced. Each test runs the job file with its topic and database renamed, so tests
//! never share state.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::kafka::{create_topic, produce, unique};
use crate::postgres::{Pg, fresh_database};
use crate::schedule::ledger;
use crate::*;

/// `jobs/<file>` with its topics and databases renamed, written under `dir`.
pub(crate) fn renamed_job(dir: &Path, file: &str, renames: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo_root().join("jobs").join(file)).unwrap();
    for (from, to) in renames {
        assert!(text.contains(from), "{file} has no {from}");
        text = text.replace(from, to);
    }
    let path = dir.join(Path::new(file).file_name().unwrap());
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn run_ok(job: &str, wh: &Path) -> String {
    let out = strata(&["run", job, "--no-progress", "--warehouse", wh.to_str().unwrap()]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// A tick message of seed 001's producer at `minute` minutes and `second` seconds after `base` (epoch seconds).
fn tick(symbol: &str, base: u64, minute: u64, second: u64, price: f64, volume: i64, fetched: u64) -> String {
    let at = chrono::DateTime::from_timestamp((base + minute * 60 + second) as i64, 0).unwrap();
    format!(
        r#"{{"symbol":"{symbol}","price":{price},"volume":{volume},"timestamp":"{}","fetch_timestamp":{fetched}}}"#,
        at.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

/// Seed 001's job: ticks for three symbols over seven minutes, the fifth minute's ticks split across two runs (and
/// a defect of each kind); afterwards `stock_metrics` equals pandas over every produced message, one row per
/// (symbol, window), and `stock_prices` holds each clean tick once with the server's ids and defaults.
#[test]
fn seed_001_stock_metrics_equal_pandas_after_a_window_split_across_two_runs() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let db = fresh_database("strata_seed001");
    let topic = unique("raw-stock-data");
    create_topic(&topic, 4);
    let job = renamed_job(
        root.path(),
        "stock_storage/storage.sql",
        &[
            ("'kafka:///raw-stock-data'", &format!("'kafka:///{topic}'")),
            ("'postgres:///market'", &format!("'postgres:///{db}'")),
        ],
    );
    // Recent minutes, as the seed's producer sends them.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let base = now / 60 * 60 - 3600;
    let symbols = ["AAPL", "MSFT", "NVDA"];
    let mut first = Vec::new();
    let mut second = Vec::new();
    for (s, symbol) in symbols.iter().enumerate() {
        for minute in 0..7u64 {
            for k in 0..6u64 {
                let second_in_minute = k * 10 + s as u64;
                let price = 100.0 + (s * 50) as f64 + minute as f64 * 0.75 + ((k * 7 + s as u64) % 5) as f64 * 0.125;
                let volume = 1000 + (minute * 37 + k * 11 + s as u64 * 5) as i64;
                let m = tick(
                    symbol,
                    base,
                    minute,
                    second_in_minute,
                    price,
                    volume,
                    base + 600 + minute * 60,
                );
                // Minute 4: half of its ticks in each run. Minutes 5 and 6: the second run only.
                if minute < 4 || (minute == 4 && k < 3) {
                    first.push(((*symbol).to_string(), m));
                } else {
                    second.push(((*symbol).to_string(), m));
                }
            }
        }
    }
    // Defects: not JSON, a price that is not a number, a negative price, a negative volume, and a tick fetched
    // again later with another price (the later fetch wins).
    first.push(("AAPL".into(), "not json".into()));
    first.push((
        "AAPL".into(),
        r#"{"symbol":"AAPL","price":"n/a","timestamp":"2024-05-01T10:00:00Z"}"#.into(),
    ));
    first.push(("MSFT".into(), tick("MSFT", base, 2, 33, -5.0, 10, base + 700)));
    second.push(("NVDA".into(), tick("NVDA", base, 4, 41, 250.0, -3, base + 900)));
    second.push(("AAPL".into(), tick("AAPL", base, 4, 0, 777.25, 5, base + 10_000)));

    produce(&topic, &first, false);
    run_ok(&job, &wh);
    let pg = Pg::connect(&db);
    let split_before = pg.one(&format!(
        "SELECT count(*) FROM stock_metrics WHERE window_start = to_timestamp({}) AT TIME ZONE 'UTC'",
        base + 240
    ));
    assert_eq!(
        split_before, "3",
        "the split window exists after the first run, from its first half"
    );
    produce(&topic, &second, false);
    run_ok(&job, &wh);
    assert!(run_ok(&job, &wh).contains("no new messages"));

    // The reference: pandas over every message produced.
    let messages = root.path().join("messages.jsonl");
    let lines: Vec<&str> = first.iter().chain(&second).map(|(_, v)| v.as_str()).collect();
    std::fs::write(&messages, lines.join("\n") + "\n").unwrap();
    let out = Command::new(python())
        .arg(repo_root().join("dev/check_stock_metrics.py"))
        .arg(&messages)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: Vec<serde_json::Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(expected.len(), symbols.len() * 7);

    let got = pg.column(
        "SELECT json_build_object('symbol', symbol, 'window_start', window_start, 'window_end', window_end,
           'avg_price', avg_price, 'max_price', max_price, 'min_price', min_price, 'avg_volume', avg_volume)::text
         FROM stock_metrics ORDER BY symbol, window_start",
    );
    assert_eq!(got.len(), expected.len(), "one row per (symbol, window): {got:?}");
    let number = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| v.as_str().unwrap().parse().unwrap());
    for (row, want) in got.iter().zip(&expected) {
        let row: serde_json::Value = serde_json::from_str(row.as_deref().unwrap()).unwrap();
        assert_eq!(row["symbol"], want["symbol"], "{row} vs {want}");
        assert_eq!(
            row["window_start"].as_str().unwrap(),
            want["window_start"].as_str().unwrap(),
            "{row} vs {want}"
        );
        assert_eq!(
            row["window_end"].as_str().unwrap(),
            want["window_end"].as_str().unwrap()
        );
        for column in ["avg_price", "max_price", "min_price", "avg_volume"] {
            // NUMERIC(18,4) / NUMERIC(20,4): half a unit of the fourth decimal.
            let (a, b) = (number(&row[column]), number(&want[column]));
            assert!((a - b).abs() <= 0.00005 + 1e-9, "{column}: {row} vs {want}");
        }
    }
    // The split window holds all its ticks: six per symbol (the AAPL tick fetched again replaced, not added).
    let split: Vec<_> = expected
        .iter()
        .filter(|e| e["window_start"].as_str().unwrap() == got_minute(base, 4))
        .collect();
    assert!(split.iter().all(|e| e["ticks"] == 6), "{split:?}");

    // stock_prices: every clean tick once, ids from the server's identity, both indexes created.
    let clean: u64 = expected.iter().map(|e| e["ticks"].as_u64().unwrap()).sum();
    let prices = pg.one("SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || count(DISTINCT (symbol, \"timestamp\")) FROM stock_prices");
    // The re-fetched AAPL tick arrives in the second run after its first copy was stored: both are kept in
    // stock_prices (append only), and the metrics count the later one.
    assert_eq!(prices, format!("{} {} {clean}", clean + 1, clean + 1));
    let indexes =
        pg.one("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'stock_prices'");
    assert_eq!(
        indexes,
        "stock_prices_pkey,stock_prices_symbol_idx,stock_prices_timestamp_idx"
    );
    assert_eq!(
        pg.one("SELECT count(*) FROM stock_metrics WHERE created_at IS NULL OR id IS NULL"),
        "0"
    );
    let identity = pg.one(
        "SELECT string_agg(column_name || ':' || is_identity, ',' ORDER BY column_name) FROM information_schema.columns
         WHERE table_name = 'stock_metrics' AND column_name IN ('id', 'created_at')",
    );
    assert_eq!(identity, "created_at:NO,id:YES");
}

/// The ISO text of minute `minute` after `base`, as pandas prints it.
fn got_minute(base: u64, minute: u64) -> String {
    chrono::DateTime::from_timestamp((base + minute * 60) as i64, 0)
        .unwrap()
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// `strata schedule --once --now` of the jobs directory, which must succeed; its output.
fn schedule(jobs: &Path, wh: &Path, now: &str) -> String {
    let out = crate::schedule::schedule(jobs, wh, now);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// A raw tick of seed 003's producer on 2024-05-01.
fn raw_tick(symbol: &str, minute: u64, second: u64, price: f64, volume: i64) -> (String, String) {
    (
        symbol.to_string(),
        format!(
            r#"{{"symbol":"{symbol}","price":{price},"volume":{volume},"timestamp":"2024-05-01T10:{minute:02}:{second:02}Z","fetch_timestamp":{}}}"#,
            1_714_557_600 + minute * 60 + second
        ),
    )
}

/// What the processed topic holds, merged per (symbol, window start) the way a reader of partial windows must:
/// (ticks, Σ avg·ticks, max, min, volumes, Σ avg_volume·volumes).
fn merged_windows(
    messages: &[(i32, Option<String>, String)],
) -> std::collections::BTreeMap<(String, String), [f64; 6]> {
    let mut out = std::collections::BTreeMap::new();
    for (_, _, value) in messages {
        let m: serde_json::Value = serde_json::from_str(value).unwrap();
        let key = (
            m["symbol"].as_str().unwrap().to_string(),
            m["window_start"].as_str().unwrap()[..19].to_string(),
        );
        let ticks = m["ticks"].as_f64().unwrap();
        let volumes = m["volumes"].as_f64().unwrap();
        let w = out.entry(key).or_insert([0.0, 0.0, f64::MIN, f64::MAX, 0.0, 0.0]);
        w[0] += ticks;
        w[1] += m["avg_price"].as_f64().unwrap() * ticks;
        w[2] = w[2].max(m["max_price"].as_f64().unwrap());
        w[3] = w[3].min(m["min_price"].as_f64().unwrap());
        w[4] += volumes;
        w[5] += m["avg_volume"].as_f64().unwrap_or(0.0) * volumes;
    }
    out
}

/// The PostgreSQL table equals the merged topic, window by window, and its 5-window SMA follows the stored prices.
fn check_store(pg: &Pg, processed: &str) {
    let produced = merged_windows(&crate::kafka::consume_all(processed, 2));
    let rows = pg.column(
        "SELECT json_build_object('symbol', symbol, 'window_start', window_start, 'avg_price', avg_price,
           'max_price', max_price, 'min_price', min_price, 'avg_volume', avg_volume, 'ticks', ticks,
           'volumes', volumes, 'sma_5', sma_5)::text
         FROM processed_stock_data ORDER BY symbol, window_start",
    );
    assert_eq!(rows.len(), produced.len(), "one row per produced window: {rows:?}");
    let number = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| v.as_str().unwrap().parse().unwrap());
    let mut history: Vec<(String, f64)> = Vec::new();
    let mut smas = 0;
    for (row, ((symbol, start), w)) in rows.iter().zip(&produced) {
        let row: serde_json::Value = serde_json::from_str(row.as_deref().unwrap()).unwrap();
        assert_eq!(
            (
                row["symbol"].as_str().unwrap(),
                &row["window_start"].as_str().unwrap()[..19]
            ),
            (symbol.as_str(), start.as_str())
        );
        let avg = w[1] / w[0];
        assert!((number(&row["avg_price"]) - avg).abs() < 2e-6, "{row} vs avg {avg}");
        assert!((number(&row["max_price"]) - w[2]).abs() < 1e-6, "{row}");
        assert!((number(&row["min_price"]) - w[3]).abs() < 1e-6, "{row}");
        assert_eq!(
            (row["ticks"].as_f64().unwrap(), row["volumes"].as_f64().unwrap()),
            (w[0], w[4]),
            "{row}"
        );
        assert!((number(&row["avg_volume"]) - w[5] / w[4]).abs() < 2e-6, "{row}");
        history.retain(|(s, _)| s == symbol);
        history.push((symbol.clone(), avg));
        if history.len() >= 5 && !row["sma_5"].is_null() {
            let sma: f64 = history[history.len() - 5..].iter().map(|(_, p)| p).sum::<f64>() / 5.0;
            assert!((number(&row["sma_5"]) - sma).abs() < 1e-5, "{row} vs sma {sma}");
            smas += 1;
        }
    }
    assert!(smas > 0, "no window had five before it");
}

/// Seed 003 as two job files chained like the seed's Airflow DAGs: `ingest.sql` (scheduled) validates raw ticks
/// and produces windows, `store.sql` (`--! after ingest.sql`) stores them in PostgreSQL. Under `strata schedule`
/// the store runs after each ingest run, the ledger shows the chain, the rule counts are recorded, and the table
/// equals what was produced — also after a window was split across two ingest runs.
#[test]
fn seed_003_chain_runs_in_order_under_schedule_and_postgres_holds_what_was_produced() {
    let root = tempfile::tempdir().unwrap();
    let (jobs, wh) = (root.path().join("jobs"), root.path().join("wh"));
    std::fs::create_dir_all(&jobs).unwrap();
    let db = fresh_database("strata_seed003");
    let (raw, processed) = (unique("raw-stock-data"), unique("processed-stock-data"));
    create_topic(&raw, 4);
    create_topic(&processed, 2);
    let raw_from = ("'kafka:///raw-stock-data'", format!("'kafka:///{raw}'"));
    let processed_from = ("'kafka:///processed-stock-data'", format!("'kafka:///{processed}'"));
    renamed_job(
        &jobs,
        "stock_stream/ingest.sql",
        &[(raw_from.0, &raw_from.1), (processed_from.0, &processed_from.1)],
    );
    renamed_job(
        &jobs,
        "stock_stream/store.sql",
        &[
            (processed_from.0, &processed_from.1),
            ("'postgres:///market'", &format!("'postgres:///{db}'")),
        ],
    );
    let symbols = ["AAPL", "MSFT", "NVDA", "TSLA"];
    let wave = |minutes: std::ops::Range<u64>, seconds: std::ops::Range<u64>| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (s, symbol) in symbols.iter().enumerate() {
            for minute in minutes.clone() {
                for second in seconds.clone() {
                    let price = 50.0 + (s * 40) as f64 + minute as f64 * 0.5 + (second % 7) as f64 * 0.25;
                    out.push(raw_tick(
                        symbol,
                        minute,
                        second * 5,
                        price,
                        100 + (second * 3 + minute) as i64,
                    ));
                }
            }
        }
        out
    };
    // Wave 1: minutes 0-5, minute 5 only its first half; three negative prices, two negative volumes, one
    // message that is not JSON.
    let mut first = wave(0..5, 0..12);
    first.extend(wave(5..6, 0..6));
    first.extend([
        raw_tick("AAPL", 1, 2, -1.0, 10),
        raw_tick("MSFT", 2, 3, -2.5, 10),
        raw_tick("NVDA", 3, 4, -0.5, 10),
        raw_tick("TSLA", 1, 1, 10.0, -7),
        raw_tick("TSLA", 2, 1, 10.0, -8),
        ("AAPL".into(), "{not json".into()),
    ]);
    produce(&raw, &first, false);

    let out = schedule(&jobs, &wh, "2026-01-01T12:01:00Z");
    assert!(
        out.contains("store.sql: runs after") && out.contains("ingest.sql"),
        "{out}"
    );
    let out = schedule(&jobs, &wh, "2026-01-01T12:05:10Z");
    let (ingest_at, store_at) = (
        out.find("ingest.sql: incremental run").unwrap(),
        out.find("store.sql: run ").unwrap(),
    );
    assert!(ingest_at < store_at, "{out}");
    let runs = ledger(&wh);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[0]["job"].as_str().unwrap().ends_with("ingest.sql"), "{runs:?}");
    assert!(runs[1]["job"].as_str().unwrap().ends_with("store.sql"));
    assert_eq!(
        runs[1]["mode"].as_str().unwrap(),
        format!(
            "incremental after ingest.sql run {}",
            runs[0]["run_id"].as_str().unwrap()
        )
    );
    assert!(runs.iter().all(|r| r["state"] == "succeeded"), "{runs:?}");
    // The store started once the ingest had finished.
    assert!(runs[1]["started_at"].as_str().unwrap() >= runs[0]["finished_at"].as_str().unwrap());
    let rules: Vec<(String, u64)> = runs[0]["summary"]["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["rule"].as_str().unwrap().to_string(),
                e["violations"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            ("positive_price".to_string(), 3),
            ("non_negative_volume".to_string(), 2)
        ]
    );
    let pg = Pg::connect(&db);
    check_store(&pg, &processed);

    // Wave 2: the rest of minute 5 and minutes 6-9. The split window ends with all its ticks.
    let mut second = wave(5..6, 6..12);
    second.extend(wave(6..10, 0..12));
    produce(&raw, &second, false);
    let out = schedule(&jobs, &wh, "2026-01-01T12:10:10Z");
    assert!(out.contains("store.sql: run "), "{out}");
    check_store(&pg, &processed);
    assert_eq!(
        pg.one("SELECT ticks FROM processed_stock_data WHERE symbol = 'AAPL' AND window_start = '2024-05-01 10:05:00'"),
        "12"
    );
    assert_eq!(ledger(&wh).len(), 4);
}
