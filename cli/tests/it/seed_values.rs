//! The batch seed pipelines' tables checked value by value against an independent computation (pandas, TA-Lib and
//! an independent NYSE calendar in Python) over exactly what the job read: seed 000's PostgreSQL aggregates and seed
//! 002's Fibonacci bars and sector strength (seed 004's are in `seed_taxi`).

use std::path::Path;
use std::process::Command;

use crate::postgres::{Pg, fresh_database};
use crate::*;

pub(crate) use crate::seeds::renamed_job as renamed;

/// Run `job` (JSON logs) and return its summary.
pub(crate) fn run_summary(job: &str, wh: &Path, flags: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "--log-format",
        "json",
        "run",
        job,
        "--no-progress",
        "--warehouse",
        wh.to_str().unwrap(),
    ];
    args.extend(flags);
    let out = strata(&args);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    serde_json::from_str(stdout(&out).trim().lines().last().unwrap()).unwrap()
}

/// Every row of `table`, one JSON object per line.
pub(crate) fn dump(pg: &Pg, table: &str, path: &Path) {
    let rows: Vec<String> = pg
        .column(&format!("SELECT row_to_json(t)::text FROM {table} t"))
        .into_iter()
        .flatten()
        .collect();
    std::fs::write(path, rows.join("\n") + "\n").unwrap();
}

/// Each rule's violations summed over `summaries`.
fn violations(summaries: &[&serde_json::Value], rule: &str) -> u64 {
    summaries
        .iter()
        .flat_map(|s| s["expectations"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["rule"] == rule)
        .map(|e| e["violations"].as_u64().unwrap())
        .sum()
}

/// Three symbols of six hourly ticks per weekday over 14 months, with defects of every kind the job cleans: missing
/// symbols and prices, negative prices and volumes, isolated 10x price spikes, and ticks fetched again later with
/// another price. `all_ticks` holds them all; the test loads them into `stock_prices` in two parts.
const TICKS: &str = "
CREATE TABLE all_ticks AS
SELECT row_number() OVER (ORDER BY d, t, s.k)::int AS id, s.sym AS symbol,
       round((100 + s.k * 15 + 20 * sin(d / 15.0 + s.k) + 3 * cos(t * 1.7 + d))::numeric, 2) AS price,
       ((d * 13 + t * 7 + s.k * 101) % 5000)::numeric AS volume,
       (date '2023-01-02' + d) + time '10:00' + t * interval '1 hour' AS \"timestamp\",
       (1700000000 + d * 100 + t)::bigint AS fetch_timestamp
FROM generate_series(0, 419) d, generate_series(0, 5) t, (VALUES ('AAA', 0), ('BBB', 1), ('CCC', 2)) s(sym, k)
WHERE extract(isodow FROM date '2023-01-02' + d) < 6;
UPDATE all_ticks SET price = NULL WHERE id % 211 = 0;
UPDATE all_ticks SET price = -1 WHERE id % 307 = 0;
UPDATE all_ticks SET volume = -5 WHERE id % 401 = 0;
UPDATE all_ticks SET price = price * 10 WHERE id % 503 = 0 AND price > 0;
UPDATE all_ticks SET symbol = NULL WHERE id % 613 = 0;
INSERT INTO all_ticks
SELECT id + 100000, symbol, price + 0.5, volume, \"timestamp\", fetch_timestamp + 60 FROM all_ticks WHERE id % 97 = 0;
CREATE TABLE stock_prices (id int PRIMARY KEY, symbol varchar(10), price numeric, volume numeric,
  \"timestamp\" timestamp, fetch_timestamp bigint);
";

/// Seed 000's job, run as its users run it: a first run over 11 months of ticks, then, after two more months of
/// ticks arrived, an incremental run that reads only those from PostgreSQL. The three aggregate tables then equal
/// pandas and TA-Lib over every tick, to the last bit of every indicator, and the expectation counts of both runs
/// add up to the defects pandas finds.
#[test]
fn seed_000_postgres_aggregates_equal_pandas_and_talib_after_an_incremental_run() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let db = fresh_database("strata_seed000");
    let pg = Pg::connect(&db);
    pg.exec(TICKS);
    let job = renamed(
        root.path(),
        "stock_postgres/aggregates.sql",
        &[("'postgres:///market'", &format!("'postgres:///{db}'"))],
    );
    let cutoff = "2023-12-01";
    pg.exec(&format!(
        "INSERT INTO stock_prices SELECT * FROM all_ticks WHERE \"timestamp\" < '{cutoff}' OR \"timestamp\" IS NULL"
    ));
    let first = run_summary(&job, &wh, &[]);
    pg.exec(&format!(
        "INSERT INTO stock_prices SELECT * FROM all_ticks WHERE \"timestamp\" >= '{cutoff}'"
    ));
    let second = run_summary(&job, &wh, &[]);

    // The second run read only the new ticks: the cleaning tables rewrote from the cutoff on.
    assert_eq!(second["mode"], "incremental", "{second}");
    let range = |table: &str| {
        second["ranges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["table"] == table)
            .unwrap_or_else(|| panic!("no range for {table}: {second}"))
            .clone()
    };
    // The last tick before the cutoff is 2023-11-30 15:00: the run reads and rewrites from just above it.
    let ticks = range("silver.stock_ticks");
    assert_eq!(ticks["action"], "rewritten", "{ticks}");
    assert!(
        ticks["range"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-30T15:00:00.000001"),
        "{ticks}"
    );
    assert!(
        ticks["read"]
            .as_str()
            .unwrap()
            .starts_with("2023-11-30T15:00:00.000001"),
        "{ticks}"
    );

    // The reference, over every tick of the source.
    let dir = root.path();
    dump(&pg, "stock_prices", &dir.join("ticks.jsonl"));
    for table in [
        "stock_daily_aggregates",
        "stock_weekly_aggregates",
        "stock_monthly_aggregates",
    ] {
        dump(&pg, table, &dir.join(format!("{table}.jsonl")));
    }
    let out = Command::new(python())
        .arg(repo_root().join("dev/check_seed000.py"))
        .arg(dir.join("ticks.jsonl"))
        .arg(dir.join("stock_daily_aggregates.jsonl"))
        .arg(dir.join("stock_weekly_aggregates.jsonl"))
        .arg(dir.join("stock_monthly_aggregates.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the tables differ from pandas/TA-Lib:\n{}",
        stderr(&out)
    );
    let reference: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    for rule in ["has_symbol", "positive_price", "non_negative_volume", "no_price_spike"] {
        let expected = reference["violations"][rule].as_u64().unwrap();
        assert!(expected > 0, "the data has no defect for {rule}: {reference}");
        assert_eq!(
            violations(&[&first, &second], rule),
            expected,
            "{rule}: {first}\n{second}"
        );
    }
    // Enough history for every indicator, crosses included.
    let daily = reference["rows"]["stock_daily_aggregates"].as_u64().unwrap();
    assert_eq!(daily, 3 * 300, "{reference}");
    let crosses = pg.one("SELECT count(*) FROM stock_daily_aggregates WHERE golden_cross <> 0");
    assert!(
        crosses.parse::<u32>().unwrap() >= 1,
        "no golden or death cross in the data"
    );
    // The spikes are kept aside with their rule, not lost.
    let quarantined = crate::kafka::table(&wh, "silver.clean_ticks_quarantine", &["_expectations"]);
    assert_eq!(
        quarantined["rows"], reference["violations"]["no_price_spike"],
        "{quarantined}"
    );
    let rules = &quarantined["columns"]["_expectations"];
    assert_eq!(
        (&rules["distinct"], &rules["values"][0]),
        (&serde_json::json!(1), &serde_json::json!("no_price_spike"))
    );
}

/// Run `python -c script args…`; fails the test on failure; returns stdout.
fn python_script(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// Copy the bronze prices of `from` to `to` without (`hold`) or with only (`release`) one symbol's bars of one day.
const HOLD_BACK: &str = r#"
import os, sys
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
source, dest, symbol, day, what = sys.argv[1:6]
t = DeltaTable(source).to_pyarrow_table()
late = pc.and_(pc.equal(t["symbol"], symbol), pc.equal(pc.cast(t["ts"], "date32"), pc.cast(pc.strptime(day, "%Y-%m-%d", "s"), "date32")))
rows = t.filter(late) if what == "release" else t.filter(pc.invert(late))
write_deltalake(dest, rows, mode="append", partition_by=["year"])
print(rows.num_rows, flush=True)
os._exit(0)
"#;

/// Seed 002's job on a generated market: the Fibonacci bars and the sector strength equal pandas over the bronze
/// rows with the independent NYSE calendar of `exchange_calendars`; and a bar one symbol's feed delivers a day late,
/// below the watermark, is in every table after the next incremental run, which then equals a full refresh.
#[test]
fn seed_002_fibonacci_bars_and_sector_strength_equal_pandas_and_a_late_bar_is_taken() {
    let root = tempfile::tempdir().unwrap();
    let (full, inc) = (root.path().join("full"), root.path().join("inc"));
    let source = full.join("bronze/market_daily");
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "12", "--start", "2016-01-01", "--end", "2017-06-30", "--seed", "23",
        "--defect-rate", "0.01", "--out", source.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job = "jobs/stock_market/pipeline.sql";
    run_summary(job, &full, &["--full-refresh"]);

    // The values, against pandas.
    let out = Command::new(python())
        .arg(repo_root().join("dev/check_seed002.py"))
        .arg(&full)
        .output()
        .unwrap();
    assert!(out.status.success(), "the tables differ from pandas:\n{}", stderr(&out));
    let checked: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(
        checked["bars"]["silver.bars_34d"].as_u64().unwrap() >= 12 * 10,
        "{checked}"
    );
    assert!(checked["sector_strength"].as_u64().unwrap() >= 12 * 300, "{checked}");
    let sectors = crate::kafka::table(&full, "gold.sector_strength", &["sector"]);
    assert!(
        sectors["columns"]["sector"]["distinct"].as_u64().unwrap() >= 4,
        "one sector is no test"
    );

    // The same market arriving with AAAB's bar of 2017-06-29 a day late: held back from the first run, delivered
    // after it, below the watermark (2017-06-30).
    let (symbol, day) = ("AAAB", "2017-06-29");
    crate::cluster::copy_dir(
        &full.join("bronze/symbol_metadata"),
        &inc.join("bronze/symbol_metadata"),
    );
    let bronze = inc.join("bronze/market_daily");
    let (src, dst) = (source.to_str().unwrap(), bronze.to_str().unwrap());
    python_script(HOLD_BACK, &[src, dst, symbol, day, "hold"]);
    run_summary(job, &inc, &[]);
    let has_late = |wh: &Path| {
        let t = crate::kafka::table(wh, "silver.daily_bars", &["symbol", "trade_date"]);
        let symbols = t["columns"]["symbol"]["values"].as_array().unwrap().clone();
        let dates = t["columns"]["trade_date"]["values"].as_array().unwrap().clone();
        symbols
            .iter()
            .zip(&dates)
            .any(|(s, d)| s == symbol && d.as_str().is_some_and(|d| d.starts_with(day)))
    };
    assert!(!has_late(&inc), "the held-back bar is already there");
    assert_eq!(
        python_script(HOLD_BACK, &[src, dst, symbol, day, "release"]).trim(),
        "1"
    );
    let late = run_summary(job, &inc, &[]);
    assert_eq!(late["mode"], "incremental");
    assert!(has_late(&inc), "the late bar was skipped: {late}");
    let out = Command::new(python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .args([&full, &inc])
        .args(crate::cases::STOCK_TABLES)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "after the late bar, incremental vs full refresh:\n{}{}",
        stdout(&out),
        stderr(&out)
    );

    // Consolidation, the seed's consolidator: `strata optimize` merges the incremental runs' small files, Z-ordered
    // by symbol, and the rows stay the same.
    let files = |wh: &Path| {
        crate::kafka::table(wh, "silver.daily_bars", &[])["files"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = files(&inc);
    let wh = inc.to_str().unwrap();
    let out = strata(&[
        "optimize",
        "silver.daily_bars",
        "--zorder-by",
        "symbol",
        "--warehouse",
        wh,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(files(&inc) < before, "optimize left {} of {before} files", files(&inc));
    let out = Command::new(python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .args([&full, &inc])
        .arg("silver.daily_bars")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "after optimize:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
}
