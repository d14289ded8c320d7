//! `MERGE INTO` a Delta table: updates, deletes and inserts in one commit, the same on the embedded engine and an
//! in-process cluster, and idempotent when re-run with the same source.

use std::path::Path;

use crate::{stderr, stdout, strata};

const CREATE: &str = "CREATE TABLE silver.positions AS\n\
SELECT * FROM (VALUES ('AAPL', 10, 1.5), ('MSFT', 20, 2.5), ('GOOG', 30, 3.5)) AS v(symbol, qty, price);";

const MERGE: &str = "CREATE VIEW changes AS\n\
SELECT * FROM (VALUES ('AAPL', 11, 1.6, false), ('GOOG', 0, 0.0, true), ('NVDA', 5, 9.9, false)) AS c(symbol, qty, price, closed);\n\
MERGE INTO silver.positions AS t\n\
USING (SELECT * FROM changes) AS s\n\
ON t.symbol = s.symbol\n\
WHEN MATCHED AND s.closed THEN DELETE\n\
WHEN MATCHED THEN UPDATE SET qty = s.qty, price = s.price\n\
WHEN NOT MATCHED AND NOT s.closed THEN INSERT (symbol, qty, price) VALUES (s.symbol, s.qty, s.price);";

/// The table's rows, sorted, as text, from the independent reader.
fn rows(warehouse: &Path) -> String {
    let script = "import deltalake, os, sys\n\
t = deltalake.DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()\n\
print(sorted((r['symbol'], r['qty'], r['price']) for r in t), flush=True)\n\
os._exit(0)";
    let out = std::process::Command::new(crate::python())
        .arg("-c")
        .arg(script)
        .arg(warehouse.join("silver/positions"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn run(job: &Path, warehouse: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        job.to_str().unwrap(),
        "--no-progress",
        "--warehouse",
        warehouse.to_str().unwrap(),
    ];
    args.extend(extra);
    strata(&args)
}

#[test]
fn merge_updates_deletes_and_inserts_the_same_everywhere_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let create = dir.path().join("create.sql");
    let merge = dir.path().join("merge.sql");
    std::fs::write(&create, CREATE).unwrap();
    std::fs::write(&merge, MERGE).unwrap();
    let expected = "[('AAPL', 11, 1.6), ('MSFT', 20, 2.5), ('NVDA', 5, 9.9)]";
    for (mode, extra) in [("embedded", &[][..]), ("standalone", &["--standalone"][..])] {
        let wh = dir.path().join(mode);
        let out = run(&create, &wh, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(rows(&wh), "[('AAPL', 10, 1.5), ('GOOG', 30, 3.5), ('MSFT', 20, 2.5)]");
        let out = run(&merge, &wh, extra);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        assert!(stdout(&out).contains("merge"), "{}", stdout(&out));
        assert_eq!(rows(&wh), expected, "{mode}");
        // The same source again changes nothing.
        let out = run(&merge, &wh, extra);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(rows(&wh), expected, "{mode}, second run");
    }

    // A merge needs an existing Delta table: caught at planning, located.
    let missing = dir.path().join("missing.sql");
    std::fs::write(&missing, MERGE.replace("silver.positions", "silver.nothing")).unwrap();
    let out = run(&missing, &dir.path().join("embedded"), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("missing.sql:3:1: MERGE INTO 'silver.nothing'"),
        "{}",
        stderr(&out)
    );
}

/// Expectations on a merge check its source rows: failing rows are quarantined (or dropped) and never merged.
#[test]
fn a_merge_with_expectations_merges_only_the_rows_that_pass() {
    let dir = tempfile::tempdir().unwrap();
    let create = dir.path().join("create.sql");
    let merge = dir.path().join("merge.sql");
    std::fs::write(&create, CREATE).unwrap();
    let checked = "CREATE VIEW changes AS\n\
SELECT * FROM (VALUES ('AAPL', 11, 1.6), ('MSFT', -3, 2.6), ('NVDA', 5, NULL), ('TSLA', 7, 7.7)) AS c(symbol, qty, price);\n\
MERGE INTO silver.positions (\n\
  CONSTRAINT non_negative EXPECT (qty >= 0) ON VIOLATION QUARANTINE,\n\
  CONSTRAINT priced EXPECT (price IS NOT NULL) ON VIOLATION DROP ROW\n\
) AS t\n\
USING (SELECT * FROM changes) AS s\n\
ON t.symbol = s.symbol\n\
WHEN MATCHED THEN UPDATE SET qty = s.qty, price = s.price\n\
WHEN NOT MATCHED THEN INSERT (symbol, qty, price) VALUES (s.symbol, s.qty, s.price);";
    std::fs::write(&merge, checked).unwrap();
    for (mode, extra) in [("embedded", &[][..]), ("standalone", &["--standalone"][..])] {
        let wh = dir.path().join(mode);
        let out = run(&create, &wh, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut args = vec!["--log-format", "json"];
        args.extend([
            "run",
            merge.to_str().unwrap(),
            "--no-progress",
            "--warehouse",
            wh.to_str().unwrap(),
        ]);
        args.extend(extra);
        let out = strata(&args);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim().lines().last().unwrap()).unwrap();
        let counts: Vec<(String, u64)> = summary["expectations"]
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
            counts,
            [("non_negative".to_string(), 1), ("priced".to_string(), 1)],
            "{mode}"
        );
        assert_eq!(
            rows(&wh),
            "[('AAPL', 11, 1.6), ('GOOG', 30, 3.5), ('MSFT', 20, 2.5), ('TSLA', 7, 7.7)]",
            "{mode}"
        );
        let quarantined = crate::kafka::table(&wh, "silver.positions_quarantine", &["symbol"]);
        assert_eq!(quarantined["rows"], 1, "{mode}: {quarantined}");
        assert_eq!(quarantined["columns"]["symbol"]["values"][0], "MSFT", "{mode}");
    }
}
