//! Integration tests: real job files planned and run over real Delta tables on disk, on the embedded engine and
//! (where marked) also on an in-process Ballista cluster, which must give the same results.

// A test crate: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod failure;
mod params;
mod pipeline;
mod plans;
mod types;
mod validation;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use strata_connectors::delta::{self, WriteMode};
use strata_planner::{Engine, JobEvent, Params, RunSummary, StrataOptions};
use strata_sql::testing::{bronze_batch, bronze_schema};

pub fn repo_root() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn pipeline_sql() -> String {
    std::fs::read_to_string(repo_root().join("jobs/stock_market/pipeline.sql")).unwrap()
}

/// One bronze row: symbol, session date, open, high, low, close, volume.
pub type Row = strata_sql::testing::BronzeRow<'static>;

/// Write `rows` as the bronze table `<warehouse>/bronze/market_daily` (replacing it).
pub async fn write_bronze(warehouse: &Path, rows: &[Row], mode: WriteMode) {
    let batch = bronze_batch(rows).unwrap();
    let url = strata_connectors::location::resolve(
        "bronze/market_daily",
        &strata_connectors::location::Warehouse::local(warehouse).unwrap(),
    )
    .unwrap();
    delta::write(&url, bronze_schema(), vec![batch], &["year".to_string()], mode)
        .await
        .unwrap();
    // An append keeps the metadata there; a replaced bronze table gets its symbols' metadata.
    if mode != WriteMode::Append || !warehouse.join("bronze/symbol_metadata/_delta_log").exists() {
        write_metadata(warehouse, rows).await;
    }
}

/// The symbols' metadata the pipeline joins (`bronze/symbol_metadata`): every symbol of `rows`, in two sectors by
/// turns.
async fn write_metadata(warehouse: &Path, rows: &[Row]) {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let mut symbols: Vec<&str> = rows.iter().map(|r| r.0).collect();
    symbols.sort_unstable();
    symbols.dedup();
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("sector", DataType::Utf8, false),
        Field::new("market_cap", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(symbols.iter().copied())),
            Arc::new(StringArray::from_iter_values(
                symbols.iter().map(|s| format!("{s} Corp")),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..symbols.len()).map(|i| if i % 2 == 0 { "Energy" } else { "Utilities" }),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..symbols.len()).map(|i| 1_000_000_000 * (i as i64 + 1)),
            )),
        ],
    )
    .unwrap();
    let url = strata_connectors::location::resolve(
        "bronze/symbol_metadata",
        &strata_connectors::location::Warehouse::local(warehouse).unwrap(),
    )
    .unwrap();
    delta::write(&url, schema, vec![batch], &[], WriteMode::Overwrite)
        .await
        .unwrap();
}

pub fn options(warehouse: &Path) -> StrataOptions {
    StrataOptions::default().with_warehouse(warehouse.to_string_lossy().to_string())
}

/// Parse, plan and run job text on the embedded engine; events are recorded.
pub async fn run_sql(
    sql: &str,
    warehouse: &Path,
    params: &Params,
) -> (strata_planner::Result<RunSummary>, Vec<JobEvent>) {
    run_sql_on(sql, warehouse, params, Engine::Embedded).await
}

/// [`run_sql`] on any engine.
pub async fn run_sql_on(
    sql: &str,
    warehouse: &Path,
    params: &Params,
    engine: Engine,
) -> (strata_planner::Result<RunSummary>, Vec<JobEvent>) {
    run_sql_with(sql, warehouse, params, engine, strata_planner::RunMode::default()).await
}

/// [`run_sql_on`] in any run mode.
pub async fn run_sql_with(
    sql: &str,
    warehouse: &Path,
    params: &Params,
    engine: Engine,
    mode: strata_planner::RunMode,
) -> (strata_planner::Result<RunSummary>, Vec<JobEvent>) {
    let job = match strata_sql::job::parse_job("job.sql", sql) {
        Ok(j) => j,
        Err(e) => return (Err(e.into()), Vec::new()),
    };
    let planned = match strata_planner::plan_job_with(job, options(warehouse), params, engine, mode).await {
        Ok(p) => p,
        Err(e) => return (Err(e), Vec::new()),
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let result = strata_planner::run(planned, Some(Arc::new(move |e| sink.lock().unwrap().push(e)))).await;
    let events = events.lock().unwrap().clone();
    (result, events)
}

/// All rows of a warehouse Delta table, ordered by `order_by`, rendered as a table for comparisons.
pub async fn query_table(warehouse: &Path, table: &str, sql_tail: &str) -> Vec<RecordBatch> {
    let url = strata_connectors::location::warehouse_table(
        table,
        &strata_connectors::location::Warehouse::local(warehouse).unwrap(),
    )
    .unwrap();
    let ctx = strata_planner::new_context(options(warehouse));
    let t = delta::open(&url).await.unwrap();
    ctx.register_table("t", delta::provider(&t, &ctx.state()).await.unwrap())
        .unwrap();
    ctx.sql(&format!("SELECT * FROM t {sql_tail}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
}

pub async fn table_version(warehouse: &Path, table: &str) -> Option<u64> {
    let url = strata_connectors::location::warehouse_table(
        table,
        &strata_connectors::location::Warehouse::local(warehouse).unwrap(),
    )
    .unwrap();
    delta::version(&url).await.unwrap()
}

pub fn pretty(batches: &[RecordBatch]) -> String {
    datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}
