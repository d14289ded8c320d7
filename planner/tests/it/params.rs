//! Job parameters are bound as typed values, never spliced into SQL text.

use strata_connectors::delta::WriteMode;
use strata_planner::Params;

use crate::*;

const JOB: &str = "CREATE EXTERNAL TABLE bronze.market_daily STORED AS DELTA LOCATION 'bronze/market_daily';\n\
CREATE TABLE picked AS\n\
SELECT symbol, close FROM bronze.market_daily\n\
WHERE close >= ${min_close} AND ts >= ${since} AND symbol = ${symbol}";

async fn setup() -> tempfile::TempDir {
    let wh = tempfile::tempdir().unwrap();
    let day = |d| chrono::NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let rows: Vec<Row> = (4..=8)
        .flat_map(|d| {
            [
                ("AAA", day(d), Some(1.0), Some(30.0), Some(0.5), Some(d as f64), 10),
                ("BBB", day(d), Some(1.0), Some(30.0), Some(0.5), Some(d as f64), 10),
            ]
        })
        .collect();
    write_bronze(wh.path(), &rows, WriteMode::Overwrite).await;
    wh
}

#[tokio::test]
async fn parameters_are_typed_by_use() {
    let wh = setup().await;
    let params = Params::parse(["min_close=6", "since=2024-03-05", "symbol=AAA"]).unwrap();
    let (summary, _) = run_sql(JOB, wh.path(), &params).await;
    let summary = summary.unwrap();
    // AAA, closes 6, 7, 8.
    assert_eq!(summary.outputs[0].rows_written, 3);
}

#[tokio::test]
async fn a_parameter_value_is_never_sql() {
    let wh = setup().await;
    let params = Params::parse(["min_close=0", "since=2024-03-01", "symbol=AAA' OR '1'='1"]).unwrap();
    let summary = run_sql(JOB, wh.path(), &params).await.0.unwrap();
    assert_eq!(summary.outputs[0].rows_written, 0);
}

#[tokio::test]
async fn missing_and_invalid_parameters_are_located() {
    let wh = setup().await;
    let params = Params::parse(["min_close=6", "since=2024-03-05"]).unwrap();
    let err = run_sql(JOB, wh.path(), &params).await.0.unwrap_err();
    assert_eq!(
        err.to_string(),
        "job.sql:4:61: missing parameter ${symbol}: pass --param symbol=VALUE"
    );
    let params = Params::parse(["min_close=six", "since=2024-03-05", "symbol=A"]).unwrap();
    let err = run_sql(JOB, wh.path(), &params).await.0.unwrap_err().to_string();
    assert!(
        err.starts_with("job.sql:4:16: parameter ${min_close} = \"six\" is not a valid Float64"),
        "{err}"
    );
    assert_eq!(table_version(wh.path(), "picked").await, None);
}
