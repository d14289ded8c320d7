//! Incremental and backfill runs give the tables of one full refresh (property test): the stock pipeline's bronze
//! table is fed day by day in random increments, with an incremental run after each; then rows of a random range
//! in the middle arrive late and a backfill of that range is run. Every table — daily bars, calendar and Fibonacci
//! bars, SMA-200, EMA, RSI — must equal a full refresh over all the data.
//!
//! The seed is random per run and printed; `STRATA_TEST_SEED` replays one.

use std::path::Path;
use std::process::Command;

use crate::{python, repo_root, stderr, stdout, strata};

/// Every table the stock pipeline writes.
const TABLES: &[&str] = crate::cluster::STOCK_TABLES;

const JOB: &str = "jobs/stock_market/pipeline.sql";

/// A small deterministic generator (SplitMix64): no dependency, replayable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn day(offset: u64) -> String {
    (chrono::NaiveDate::from_ymd_opt(2015, 1, 1).unwrap() + chrono::Days::new(offset))
        .format("%Y-%m-%d")
        .to_string()
}

/// Append the source's rows of days `first..=last` (offsets from 2015-01-01) to the warehouse's bronze table (and
/// give the warehouse the source's symbol metadata the first time).
fn append(source: &Path, warehouse: &Path, first: u64, last: u64) -> u64 {
    let metadata = warehouse.join("bronze/symbol_metadata");
    if !metadata.exists() {
        crate::cluster::copy_dir(&source.parent().unwrap().join("symbol_metadata"), &metadata);
    }
    let out = Command::new(python())
        .arg(repo_root().join("dev/append_days.py"))
        .arg(source)
        .arg(warehouse.join("bronze/market_daily"))
        .args([day(first), day(last)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().parse().unwrap()
}

fn run(warehouse: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--log-format",
        "json",
        "run",
        JOB,
        "--no-progress",
        "--warehouse",
        warehouse.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = strata(&args);
    assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
    let line = stdout(&out)
        .lines()
        .rev()
        .find(|l| l.contains("\"run_id\""))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no summary: {}", stdout(&out)));
    serde_json::from_str(&line).unwrap()
}

/// `None` when every table is equal; else the comparison's report.
fn differences(a: &Path, b: &Path) -> Option<String> {
    let out = Command::new(python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .arg(a)
        .arg(b)
        .args(TABLES)
        .output()
        .unwrap();
    (!out.status.success()).then(|| format!("{}{}", stdout(&out), stderr(&out)))
}

fn action(summary: &serde_json::Value, table: &str) -> String {
    summary["ranges"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["table"] == table))
        .map(|r| format!("{} {}", r["action"].as_str().unwrap(), r["range"].as_str().unwrap()))
        .unwrap_or_default()
}

fn output_mode(summary: &serde_json::Value, table: &str) -> String {
    summary["outputs"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["table"] == table))
        .map(|o| o["mode"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The paths the latest commit of the Delta table at `dir` removed and added.
fn last_commit(dir: &Path) -> (Vec<String>, Vec<String>) {
    let log = dir.join("_delta_log");
    let last = std::fs::read_dir(&log)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .max()
        .unwrap();
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for line in std::fs::read_to_string(last).unwrap().lines() {
        let action: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(path) = action["remove"]["path"].as_str() {
            removed.push(path.to_string());
        }
        if let Some(path) = action["add"]["path"].as_str() {
            added.push(path.to_string());
        }
    }
    (removed, added)
}

#[test]
fn incremental_and_backfill_runs_equal_a_full_refresh() {
    let seed = crate::test_seed();
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // Two years of six symbols with every kind of defect (duplicates, NULLs, spikes, bars out of order).
    let full = dir.path().join("full");
    let source = full.join("bronze/market_daily");
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "6", "--start", "2015-01-01", "--end", "2016-12-31", "--seed", "11",
        "--defect-rate", "0.01", "--out", source.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = run(&full, &["--full-refresh"]);
    assert_eq!(summary["mode"], "full-refresh");
    const DAYS: u64 = 731;

    // 1. Day-by-day increments of random sizes: the first a year or so (SMA-200 needs 200 sessions), then 1 to 45
    // days at a time.
    let inc = dir.path().join("incremental");
    let mut next = 0;
    let mut runs = 0;
    while next < DAYS {
        let size = if next == 0 {
            300 + rng.below(120)
        } else {
            1 + rng.below(45)
        };
        let last = (next + size - 1).min(DAYS - 1);
        append(&source, &inc, next, last);
        let summary = run(&inc, &[]);
        assert_eq!(summary["mode"], "incremental");
        if next > 0 {
            // Later runs rewrite a range, not the whole table.
            let daily = action(&summary, "silver.daily_bars");
            assert!(
                daily.starts_with("rewritten") || daily.starts_with("unchanged"),
                "{daily}"
            );
            if daily.starts_with("rewritten") {
                assert_eq!(output_mode(&summary, "silver.daily_bars"), "replace range", "{summary}");
            }
        }
        next = last + 1;
        runs += 1;
    }
    assert!(runs >= 5, "{runs} runs");
    if let Some(diff) = differences(&full, &inc) {
        panic!("incremental runs differ from a full refresh (seed {seed}):\n{diff}");
    }
    // Nothing new: only the source's lateness window (3 days below the watermark) is read and rewritten again, and
    // the tables stay those of a full refresh.
    let idle = run(&inc, &[]);
    let window = action(&idle, "silver.daily_bars");
    assert!(
        window.starts_with("rewritten") && !window.contains("beginning"),
        "{idle}"
    );
    if let Some(diff) = differences(&full, &inc) {
        panic!("re-reading the lateness window changed the tables (seed {seed}):\n{diff}");
    }

    // 2. A range in the middle arrives late (after everything around it) and is backfilled.
    let late = dir.path().join("late");
    let from = 400 + rng.below(200);
    let to = from + rng.below(40);
    append(&source, &late, 0, from - 1);
    run(&late, &[]);
    append(&source, &late, to + 1, DAYS - 1);
    run(&late, &[]);
    let missing = append(&source, &late, from, to);
    assert!(
        differences(&full, &late).is_some() || missing == 0,
        "the tables must lack the late rows before the backfill"
    );
    let backfill = run(&late, &["--backfill", &day(from), &day(to)]);
    assert_eq!(backfill["mode"], "backfill");
    assert!(
        action(&backfill, "silver.weekly_bars").starts_with("rewritten"),
        "{backfill}"
    );
    // Only the files the range touches were replaced: the table's 2015 files stayed as they were.
    let (removed, added) = last_commit(&late.join("silver/daily_bars"));
    assert!(!removed.is_empty() && !added.is_empty(), "{removed:?} {added:?}");
    let in_2015 = |p: &String| p.starts_with("year=2015");
    assert!(
        !removed.iter().any(in_2015),
        "a 2016 backfill removed 2015 files: {removed:?}"
    );
    assert!(
        !added.iter().any(in_2015),
        "a 2016 backfill rewrote 2015 rows: {added:?}"
    );
    if let Some(diff) = differences(&full, &late) {
        panic!(
            "a backfill of {} .. {} differs from a full refresh (seed {seed}):\n{diff}",
            day(from),
            day(to)
        );
    }
    // The same backfill again changes nothing.
    run(&late, &["--backfill", &day(from), &day(to)]);
    assert!(
        differences(&full, &late).is_none(),
        "a repeated backfill changed the tables"
    );
    // The incremental run after a backfill still starts from the watermark: it reads again only the lateness
    // window below it, and changes nothing.
    let after = run(&late, &[]);
    assert!(action(&after, "silver.daily_bars").starts_with("rewritten"), "{after}");
    assert!(
        differences(&full, &late).is_none(),
        "re-reading the lateness window changed the tables"
    );
}
