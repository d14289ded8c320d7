//! Bad jobs fail before anything runs, with `file:line:col` and the offending name.

use strata_planner::Params;

use crate::*;

async fn error_of(sql: &str) -> String {
    let wh = tempfile::tempdir().unwrap();
    write_bronze(wh.path(), &[], strata_connectors::delta::WriteMode::Overwrite).await;
    let src = "CREATE EXTERNAL TABLE src STORED AS DELTA LOCATION 'bronze/market_daily';\n";
    let (result, events) = run_sql(&format!("{src}{sql}"), wh.path(), &Params::default()).await;
    assert!(events.is_empty(), "nothing may run: {events:?}");
    let entries: Vec<_> = std::fs::read_dir(wh.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        vec![std::ffi::OsString::from("bronze")],
        "nothing may be written"
    );
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn syntax_error() {
    assert_eq!(
        error_of("CREATE TABLE t AS\nSELECT close FROM src WHERE;").await,
        "job.sql:3:28: syntax error: Expected: an expression, found: EOF"
    );
}

#[tokio::test]
async fn unknown_table() {
    assert_eq!(
        error_of("CREATE TABLE t AS SELECT * FROM src JOIN sessions USING (ts)").await,
        "job.sql:2:42: unknown table 'sessions': declare it with CREATE EXTERNAL TABLE, CREATE VIEW or CREATE TABLE"
    );
}

#[tokio::test]
async fn cycle() {
    assert_eq!(
        error_of("CREATE TABLE a AS SELECT * FROM b;\nCREATE TABLE b AS SELECT * FROM a;").await,
        "job.sql:2:1: cycle between stages: a -> b -> a"
    );
}

#[tokio::test]
async fn unknown_function_and_column_and_type_error() {
    let e = error_of("CREATE TABLE t AS SELECT symbol, moving_avg(close) FROM src").await;
    assert!(e.starts_with("job.sql:2:34: Invalid function 'moving_avg'"), "{e}");
    let e = error_of("CREATE TABLE t AS SELECT symbol, closing FROM src").await;
    assert!(e.starts_with("job.sql:2:34: No field named closing"), "{e}");
    let e = error_of("CREATE VIEW v AS SELECT symbol FROM src;\nCREATE TABLE t AS SELECT symbol * 2 FROM v").await;
    assert!(
        e.starts_with("job.sql:3:26: Cannot coerce arithmetic expression"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_partition_column_and_missing_source() {
    let e = error_of("CREATE TABLE t PARTITIONED BY (yr) AS SELECT * FROM src").await;
    assert_eq!(e, "job.sql:2:32: partition column 'yr' is not a column of 't'");
    let e = error_of("CREATE EXTERNAL TABLE gone STORED AS DELTA LOCATION 'bronze/nothing_here';").await;
    assert!(e.starts_with("job.sql:2:1: source 'gone': no table at '"), "{e}");
}

#[tokio::test]
async fn bad_function_arguments_point_at_the_call() {
    let e = error_of(
        "CREATE TABLE t AS\nSELECT symbol,\n  rsi(close, 0) OVER (PARTITION BY symbol ORDER BY ts) AS r FROM src",
    )
    .await;
    assert_eq!(
        e,
        "job.sql:4:3: rsi: argument 2 (period) must be a positive whole number of rows, got 0"
    );
    let e = error_of("CREATE TABLE t AS SELECT symbol, session_bucket(ts, -8) FROM src").await;
    assert!(
        e.starts_with("job.sql:2:34: session_bucket: the number of sessions must be a positive integer"),
        "{e}"
    );
}
