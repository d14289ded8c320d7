//! A failed job commits nothing.

use strata_connectors::delta::WriteMode;
use strata_planner::{Engine, Params, PlannerError};

use crate::*;

const TABLES: [&str; 4] = [
    "silver.daily_bars",
    "silver.weekly_bars",
    "silver.monthly_bars",
    "gold.daily_indicators",
];

#[tokio::test]
async fn failure_in_the_last_stage_leaves_every_output_at_its_previous_version() {
    failure_commits_nothing(Engine::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_on_an_in_process_cluster_commits_nothing() {
    failure_commits_nothing(Engine::Standalone).await;
}

async fn failure_commits_nothing(engine: Engine) {
    let wh = tempfile::tempdir().unwrap();
    let day = |d| chrono::NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let rows: Vec<Row> = (4..=8)
        .map(|d| ("AAA", day(d), Some(1.0), Some(2.0), Some(0.5), Some(1.5), 10))
        .collect();
    write_bronze(wh.path(), &rows, WriteMode::Overwrite).await;
    run_sql(&pipeline_sql(), wh.path(), &Params::default()).await.0.unwrap();
    let before: Vec<_> = futures_versions(wh.path()).await;
    assert_eq!(before, vec![Some(0); 4]);
    let daily_before = pretty(&query_table(wh.path(), "silver.daily_bars", "ORDER BY ts").await);

    // New input arrives, and the job now ends with a stage that fails while running (the cast fails on 'AAA').
    let more: Vec<Row> = (11..=15)
        .map(|d| ("AAA", day(d), Some(1.0), Some(2.0), Some(0.5), Some(1.5), 10))
        .collect();
    write_bronze(wh.path(), &more, WriteMode::Append).await;
    let failing = format!(
        "{}\nCREATE TABLE gold.broken AS SELECT CAST(symbol AS INT) AS n FROM gold.daily_indicators;",
        pipeline_sql()
    );
    let (result, _) = run_sql_on(&failing, wh.path(), &Params::default(), engine.clone()).await;
    let err = result.unwrap_err();
    match &err {
        PlannerError::Stage { stage, location, .. } => {
            assert_eq!(stage, "gold.broken");
            assert_eq!(location.line, failing.lines().count() as u64);
        }
        other => panic!("expected a stage failure, got {other}"),
    }
    assert!(err.to_string().contains("Cannot cast"), "{err}");

    assert_eq!(futures_versions(wh.path()).await, before);
    assert_eq!(
        pretty(&query_table(wh.path(), "silver.daily_bars", "ORDER BY ts").await),
        daily_before
    );
    assert_eq!(table_version(wh.path(), "gold.broken").await, None);

    // Without the failing stage the same input commits a new version of every table.
    run_sql_on(&pipeline_sql(), wh.path(), &Params::default(), engine)
        .await
        .0
        .unwrap();
    assert_eq!(futures_versions(wh.path()).await, vec![Some(1); 4]);
    assert_eq!(
        query_table(wh.path(), "silver.daily_bars", "")
            .await
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        10
    );
}

async fn futures_versions(wh: &std::path::Path) -> Vec<Option<u64>> {
    let mut v = Vec::new();
    for t in TABLES {
        v.push(table_version(wh, t).await);
    }
    v
}
