//! Generate → run → read back independently.

use std::process::Command;

use crate::*;

#[test]
fn generated_data_through_the_pipeline_reads_back_in_an_independent_delta_reader() {
    let wh = tempfile::tempdir().unwrap();
    let wh_path = wh.path().to_str().unwrap();
    let bronze = format!("{wh_path}/bronze/market_daily");
    #[rustfmt::skip]
    let gen_args = [
        "--log-format", "json", "generate", "market", "--symbols", "20", "--start", "2015-01-01", "--end", "2024-12-31",
        "--seed", "2024", "--defect-rate", "0.02", "--out", &bronze,
    ];
    let out = strata(&gen_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let generated: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let rows = generated["rows"].as_u64().unwrap();
    let removable = generated["defects_removable"].as_u64().unwrap();
    assert!(removable > 0, "{generated}");

    let out = strata(&[
        "run",
        "jobs/stock_market/pipeline.sql",
        "--warehouse",
        wh_path,
        "--log-format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let outputs = summary["outputs"].as_array().unwrap();
    let written = |t: &str| {
        outputs.iter().find(|o| o["table"] == t).unwrap()["rows_written"]
            .as_u64()
            .unwrap()
    };
    // Cleaning removes exactly the injected defects.
    assert_eq!(written("silver.daily_bars"), rows - removable);
    assert_eq!(written("gold.daily_indicators"), rows - removable);
    // Progress events went to stderr as JSON lines, one per stage start and finish.
    let events: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("event").is_some())
        .collect();
    let stages = summary["stages"].as_array().unwrap().len();
    assert_eq!(stages, 18);
    assert_eq!(events.iter().filter(|e| e["event"] == "stage_finished").count(), stages);

    // An independent reader opens every output and counts the same rows.
    let mut expected = serde_json::Map::new();
    for o in outputs {
        expected.insert(o["table"].as_str().unwrap().to_string(), o["rows_written"].clone());
    }
    let check = Command::new(python())
        .arg(repo_root().join("dev/check_delta.py"))
        .arg(wh_path)
        .arg(serde_json::Value::Object(expected).to_string())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "deltalake reader: {}{}",
        stdout(&check),
        stderr(&check)
    );
    assert_eq!(
        stdout(&check).lines().filter(|l| l.starts_with("ok ")).count(),
        11,
        "{}",
        stdout(&check)
    );

    // The same job again, recomputing everything: identical contents, next version.
    let again = strata(&[
        "run",
        "jobs/stock_market/pipeline.sql",
        "--warehouse",
        wh_path,
        "--log-format",
        "json",
        "--full-refresh",
    ]);
    let again: serde_json::Value = serde_json::from_str(stdout(&again).trim()).unwrap();
    for (a, b) in outputs.iter().zip(again["outputs"].as_array().unwrap()) {
        assert_eq!(a["rows_written"], b["rows_written"]);
        assert_eq!(b["version"].as_u64().unwrap(), a["version"].as_u64().unwrap() + 1);
    }
}

#[test]
fn explain_shows_the_dag_and_plans() {
    let wh = tempfile::tempdir().unwrap();
    let wh_path = wh.path().to_str().unwrap();
    let bronze = format!("{wh_path}/bronze/market_daily");
    let out = strata(&[
        "generate",
        "market",
        "--symbols",
        "2",
        "--start",
        "2024-01-01",
        "--end",
        "2024-02-01",
        "--out",
        &bronze,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = strata(&["explain", "jobs/stock_market/pipeline.sql", "--warehouse", wh_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("gold.daily_indicators (table)  <- indicators"), "{text}");
    assert!(text.contains("silver.daily_bars (table)  <- clean_prices"), "{text}");
    assert!(text.contains("silver.bars_34d (table)  <- silver.daily_bars"), "{text}");
    // The Fibonacci tables are one template: each copy is shown with its value and its statement expanded.
    for n in [3, 5, 8, 13, 21, 34] {
        let copy = format!("template: FOR n = {n}\nCREATE TABLE silver.bars_{n}d PARTITIONED BY");
        assert!(text.contains(&copy), "{copy}\n{text}");
        assert!(text.contains(&format!("session_bucket(trade_date, {n})")), "{text}");
    }
    assert!(!text.contains("{n}"), "{text}");
    assert!(
        text.contains("-- physical plan") && text.contains("WindowAggExec"),
        "{text}"
    );
    // explain writes nothing.
    assert!(!wh.path().join("silver").exists());
}
