//! Azure Blob Storage (`az://`, Azurite on loopback, started by `dev/test.sh`) as a warehouse: the stock pipeline
//! embedded and on the in-process cluster gives the tables a local run gives (read back by Strata and by the
//! independent `deltalake` reader), Flight SQL's catalog lists them from the store, and writers appending at once
//! lose no commit.

use std::process::Output;

use crate::{stderr, stdout, strata};

/// A fresh warehouse URL in the Azure emulator, whose container is `strata`.
fn fresh(name: &str) -> String {
    assert!(
        std::env::var("STRATA_AZURE").is_ok_and(|s| !s.is_empty()),
        "STRATA_AZURE is not set: run the suite with dev/test.sh, which starts the az:// emulator"
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("az://strata/{name}-{}-{nanos}", std::process::id())
}

fn ok(args: &[&str]) -> Output {
    let out = strata(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// Per-symbol facts of the pipeline's tables, rounded so that engines that add in another order agree.
const FACTS: &str = "SELECT 'daily' AS t, symbol, count(*) AS n, round(sum(close), 6) AS s FROM silver.daily_bars \
                     GROUP BY symbol UNION ALL \
                     SELECT 'bars_8d', symbol, count(*), round(sum(volume), 6) FROM silver.bars_8d GROUP BY symbol \
                     UNION ALL SELECT 'gold', symbol, count(*), round(sum(rsi_14), 6) FROM gold.daily_indicators \
                     GROUP BY symbol ORDER BY t, symbol";

fn facts(warehouse: &str) -> String {
    stdout(&ok(&["query", FACTS, "--warehouse", warehouse, "--format", "csv"]))
}

#[test]
fn on_azure_the_pipeline_writes_the_tables_a_local_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local").display().to_string();
    let remote = fresh("pipeline");
    let remote_standalone = fresh("standalone");
    for wh in [&local, &remote, &remote_standalone] {
        #[rustfmt::skip]
        ok(&["generate", "market", "--symbols", "3", "--start", "2023-01-01", "--end", "2023-12-31", "--seed", "11",
            "--defect-rate", "0.01", "--out", &format!("{wh}/bronze/market_daily")]);
    }
    let job = "jobs/stock_market/pipeline.sql";
    ok(&["run", job, "--no-progress", "--warehouse", &local]);
    ok(&["run", job, "--no-progress", "--warehouse", &remote]);
    ok(&[
        "run",
        job,
        "--no-progress",
        "--standalone",
        "--warehouse",
        &remote_standalone,
    ]);

    let expected = facts(&local);
    assert_eq!(expected.lines().count(), 10, "{expected}");
    assert_eq!(facts(&remote), expected, "az:// embedded");
    assert_eq!(facts(&remote_standalone), expected, "az:// standalone");
    // The whole gold table, row by row, as the embedded engine wrote it on disk and in the store.
    let all = "SELECT * FROM gold.daily_indicators ORDER BY symbol, trade_date";
    let rows = |wh: &str| stdout(&ok(&["query", all, "--warehouse", wh, "--format", "csv"]));
    assert_eq!(rows(&remote), rows(&local), "az:// gold.daily_indicators");
    // The independent reader sees every table of the store as the local one holds it.
    let tables = [
        "silver.daily_bars",
        "silver.weekly_bars",
        "silver.bars_21d",
        "gold.daily_indicators",
    ];
    let (same, report) = crate::cluster::compare(&local, &remote, &tables);
    assert!(same, "az:// vs local:\n{report}");
    // The catalog is listed from the store: the tables and the ledger.
    let listed = stdout(&ok(&[
        "query",
        "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables \
         WHERE table_catalog = 'strata' ORDER BY t",
        "--warehouse",
        &remote,
        "--format",
        "csv",
    ]));
    for t in [
        "_strata.runs",
        "bronze.market_daily",
        "gold.daily_indicators",
        "silver.bars_34d",
    ] {
        assert!(listed.lines().any(|l| l == t), "{t} not listed: {listed}");
    }
    let runs = stdout(&ok(&["runs", "--warehouse", &remote]));
    assert!(runs.contains("succeeded"), "{runs}");
}

#[test]
fn on_azure_writers_appending_at_once_lose_no_commit() {
    const WRITERS: usize = 3;
    const APPENDS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let wh = fresh("concurrent");
    let job = crate::storage::append_job(dir.path());
    let job = job.as_str();
    let append = |writer: usize, n: usize| {
        let (w, n) = (format!("writer={writer}"), format!("n={n}"));
        strata(&[
            "run",
            job,
            "--no-progress",
            "--warehouse",
            &wh,
            "--param",
            &w,
            "--param",
            &n,
        ])
    };
    let out = append(WRITERS, 0);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::scope(|scope| {
        for w in 0..WRITERS {
            let append = &append;
            scope.spawn(move || {
                for n in 0..APPENDS {
                    let out = append(w, n);
                    assert!(out.status.success(), "writer {w} append {n}: {}", stderr(&out));
                }
            });
        }
    });
    let counted = stdout(&ok(&[
        "query",
        "SELECT count(*) AS n, count(DISTINCT writer * 1000 + n) AS pairs FROM bronze.events",
        "--warehouse",
        &wh,
        "--format",
        "csv",
    ]));
    let rows = WRITERS * APPENDS + 1;
    assert_eq!(
        counted.lines().nth(1),
        Some(format!("{rows},{rows}").as_str()),
        "{counted}"
    );
    // Every append is its own version: the log holds versions 0 ..= WRITERS * APPENDS.
    let ledger = stdout(&ok(&[
        "--log-format",
        "json",
        "runs",
        "--limit",
        "0",
        "--warehouse",
        &wh,
    ]));
    let succeeded = ledger.lines().filter(|l| l.contains("\"succeeded\"")).count();
    assert_eq!(succeeded, rows, "{ledger}");
}
