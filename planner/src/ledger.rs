//! The run ledger: every run of a job appends to a Delta table in the warehouse, `_strata/runs`, once when it
//! starts and once when it ends (succeeded or failed, with the failing stage and the error, the stages' rows, the
//! output tables' versions and the Kafka offsets read). A run killed in between leaves only its start: readers
//! report it as killed when its process is gone. Both the embedded engine and the scheduler write it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::{ConnectorError, location};
use url::Url;

use crate::error::Result;

/// Where the ledger lives, relative to the warehouse.
pub const LEDGER_TABLE: &str = "_strata.runs";

/// One ledger row.
#[derive(Debug, Clone, Default)]
pub struct LedgerEvent {
    pub run_id: String,
    pub job: String,
    /// `started`, `succeeded` or `failed`.
    pub event: &'static str,
    pub engine: String,
    /// `incremental`, `full-refresh` or `backfill FROM TO`.
    pub mode: String,
    /// Parameters as JSON.
    pub params: String,
    pub error: Option<String>,
    pub failed_stage: Option<String>,
    /// The run summary as JSON (stages, outputs and versions, sources and offsets).
    pub summary: Option<String>,
}

fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("job", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
        Field::new("at", ts, false),
        Field::new("engine", DataType::Utf8, false),
        Field::new("params", DataType::Utf8, false),
        Field::new("host", DataType::Utf8, false),
        Field::new("pid", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("failed_stage", DataType::Utf8, true),
        Field::new("summary", DataType::Utf8, true),
        Field::new("mode", DataType::Utf8, true),
    ]))
}

fn url(warehouse: &std::path::Path) -> Result<Url> {
    Ok(location::warehouse_table(LEDGER_TABLE, warehouse).map_err(datafusion::error::DataFusionError::from)?)
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Append one event.
pub async fn record(warehouse: &std::path::Path, event: LedgerEvent) -> Result<()> {
    let now = chrono::Utc::now().timestamp_micros();
    let text = |v: &str| Arc::new(StringArray::from(vec![v.to_string()])) as Arc<dyn Array>;
    let optional = |v: &Option<String>| Arc::new(StringArray::from(vec![v.clone()])) as Arc<dyn Array>;
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            text(&event.run_id),
            text(&event.job),
            text(event.event),
            Arc::new(TimestampMicrosecondArray::from(vec![now]).with_timezone("UTC")),
            text(&event.engine),
            text(&event.params),
            text(&host()),
            Arc::new(Int64Array::from(vec![std::process::id() as i64])),
            optional(&event.error),
            optional(&event.failed_stage),
            optional(&event.summary),
            text(&event.mode),
        ],
    )
    .map_err(datafusion::error::DataFusionError::from)?;
    delta::write(&url(warehouse)?, schema(), vec![batch], &[], WriteMode::Append)
        .await
        .map_err(datafusion::error::DataFusionError::from)?;
    Ok(())
}

/// A run as the ledger tells it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerRun {
    pub run_id: String,
    pub job: String,
    /// `running`, `succeeded`, `failed`, or `killed` (started, never ended, its process gone).
    pub state: String,
    pub engine: String,
    /// How the run chose what to recompute (absent in ledgers written before modes existed).
    pub mode: Option<String>,
    pub params: serde_json::Value,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<i64>,
    pub error: Option<String>,
    pub failed_stage: Option<String>,
    pub summary: Option<serde_json::Value>,
}

/// Every run in the ledger, oldest first; empty when the warehouse has none.
pub async fn runs(warehouse: &std::path::Path) -> Result<Vec<LedgerRun>> {
    let url = url(warehouse)?;
    let table = match delta::open(&url).await {
        Ok(table) => table,
        Err(ConnectorError::Missing { .. } | ConnectorError::NotDelta { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(datafusion::error::DataFusionError::from(e).into()),
    };
    let ctx = SessionContext::new();
    let provider = delta::provider(&table, &ctx.state())
        .await
        .map_err(datafusion::error::DataFusionError::from)?;
    let batches = ctx
        .read_table(provider)?
        .sort_by(vec![datafusion::prelude::col("at")])?
        .collect()
        .await?;
    let this_host = host();
    let mut runs: Vec<LedgerRun> = Vec::new();
    for batch in &batches {
        // Delta readers may hand strings back as views: cast to the types this reads.
        let cast = |name: &str, t: &DataType| {
            batch
                .column_by_name(name)
                .and_then(|c| datafusion::arrow::compute::cast(c, t).ok())
        };
        let s =
            |name: &str| cast(name, &DataType::Utf8).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
        let (Some(run_id), Some(job), Some(event), Some(engine), Some(params), Some(hosts)) =
            (s("run_id"), s("job"), s("event"), s("engine"), s("params"), s("host"))
        else {
            continue;
        };
        let (error, failed_stage, summary, mode) = (s("error"), s("failed_stage"), s("summary"), s("mode"));
        let at = cast("at", &DataType::Timestamp(TimeUnit::Microsecond, None))
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>().cloned());
        let pid = cast("pid", &DataType::Int64).and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned());
        let (Some(at), Some(pid)) = (at, pid) else {
            continue;
        };
        for i in 0..batch.num_rows() {
            let when = at.value(i);
            let text = chrono::DateTime::from_timestamp_micros(when)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default();
            let opt = |a: &Option<StringArray>| a.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i).to_string());
            match event.value(i) {
                "started" => {
                    let alive = hosts.value(i) != this_host
                        || std::path::Path::new(&format!("/proc/{}", pid.value(i))).exists();
                    runs.push(LedgerRun {
                        run_id: run_id.value(i).to_string(),
                        job: job.value(i).to_string(),
                        state: if alive { "running" } else { "killed" }.into(),
                        engine: engine.value(i).to_string(),
                        mode: opt(&mode),
                        params: serde_json::from_str(params.value(i)).unwrap_or(serde_json::Value::Null),
                        started_at: text,
                        finished_at: None,
                        elapsed_ms: Some(when),
                        error: None,
                        failed_stage: None,
                        summary: None,
                    });
                }
                end => {
                    if let Some(run) = runs.iter_mut().rev().find(|r| r.run_id == run_id.value(i)) {
                        run.state = end.to_string();
                        run.finished_at = Some(text);
                        run.elapsed_ms = run.elapsed_ms.map(|start| (when - start) / 1000);
                        run.error = opt(&error);
                        run.failed_stage = opt(&failed_stage);
                        run.summary = opt(&summary).and_then(|s| serde_json::from_str(&s).ok());
                    }
                }
            }
        }
    }
    // A run without an end has no elapsed time (the start time was kept there while folding).
    for run in &mut runs {
        if run.finished_at.is_none() {
            run.elapsed_ms = None;
        }
    }
    Ok(runs)
}
