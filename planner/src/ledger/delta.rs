//! The ledger as a Delta table in the warehouse, `_strata/runs`: one append commit per event.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::location::Warehouse;
use strata_connectors::{ConnectorError, location};
use url::Url;

use super::stored::{LEDGER_TABLE, StoredEvent};
use crate::error::Result;

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

fn url(warehouse: &Warehouse) -> Result<Url> {
    Ok(location::warehouse_table(LEDGER_TABLE, warehouse).map_err(DataFusionError::from)?)
}

pub(super) async fn append(warehouse: &Warehouse, e: &StoredEvent) -> Result<()> {
    let text = |v: &str| Arc::new(StringArray::from(vec![v.to_string()])) as Arc<dyn Array>;
    let optional = |v: &Option<String>| Arc::new(StringArray::from(vec![v.clone()])) as Arc<dyn Array>;
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            text(&e.run_id),
            text(&e.job),
            text(&e.event),
            Arc::new(TimestampMicrosecondArray::from(vec![e.at]).with_timezone("UTC")),
            text(&e.engine),
            text(&e.params),
            text(&e.host),
            Arc::new(Int64Array::from(vec![e.pid])),
            optional(&e.error),
            optional(&e.failed_stage),
            optional(&e.summary),
            optional(&e.mode),
        ],
    )
    .map_err(DataFusionError::from)?;
    delta::write(&url(warehouse)?, schema(), vec![batch], &[], WriteMode::Append)
        .await
        .map_err(DataFusionError::from)?;
    Ok(())
}

/// Every event, in time order; none when the warehouse has no ledger yet.
pub(super) async fn events(warehouse: &Warehouse) -> Result<Vec<StoredEvent>> {
    let url = url(warehouse)?;
    let table = match delta::open(&url).await {
        Ok(table) => table,
        Err(ConnectorError::Missing { .. } | ConnectorError::NotDelta { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(DataFusionError::from(e).into()),
    };
    let ctx = SessionContext::new();
    let provider = delta::provider(&table, &ctx.state())
        .await
        .map_err(DataFusionError::from)?;
    let batches = ctx
        .read_table(provider)?
        .sort_by(vec![datafusion::prelude::col("at")])?
        .collect()
        .await?;
    let mut out = Vec::new();
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
            let opt = |a: &Option<StringArray>| a.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i).to_string());
            out.push(StoredEvent {
                run_id: run_id.value(i).to_string(),
                job: job.value(i).to_string(),
                event: event.value(i).to_string(),
                at: at.value(i),
                engine: engine.value(i).to_string(),
                params: params.value(i).to_string(),
                host: hosts.value(i).to_string(),
                pid: pid.value(i),
                error: opt(&error),
                failed_stage: opt(&failed_stage),
                summary: opt(&summary),
                mode: opt(&mode),
            });
        }
    }
    Ok(out)
}
