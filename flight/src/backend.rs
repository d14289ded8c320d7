//! Where Flight SQL queries are planned and run, and how results become Flight data.
//!
//! The same service runs in two processes, with every function Strata installs (indicators, calendars,
//! resampling: `strata_planner::config::embedded_state`), so a client sees exactly what `strata run` computes:
//!
//! * `strata serve --warehouse DIR` ([`Backend::Embedded`]) plans and executes with DataFusion in its process;
//! * the scheduler ([`Backend::Scheduler`]) plans in its process and executes on its executors: the session is a
//!   Ballista client of the scheduler itself (Strata's codecs), tables are registered as the pinned Parquet files
//!   of their current Delta versions (`Engine::delta_provider`), which any executor can read, and the results
//!   stream back from the executors through the scheduler to the client. Statements over the information schema
//!   (`SHOW TABLES`, `DESCRIBE`) read only metadata and stay in the scheduler.
//!
//! Every request gets a fresh session over a fresh listing of the warehouse, with only the tables the
//! statement names opened (all of them for `SHOW`/`DESCRIBE`/information-schema queries).

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::FlightData;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError as ArrowFlightError;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::{Stream, StreamExt, TryStreamExt};
use strata_connectors::location::Warehouse;
use strata_planner::Engine;
use strata_planner::config::{StrataOptions, embedded_state, session_config};
use tonic::Status;

use crate::catalog::{self, CATALOG, DEFAULT_SCHEMA, WarehouseTable};
use crate::error::FlightError;
use crate::readonly::{self, READ_ONLY, ReadOnlyQuery};

/// The stream type `DoGet` answers with.
pub type FlightDataStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

/// A table opened for a request, or why it could not be.
type Opened = Result<Arc<dyn TableProvider>, Status>;

/// How many Delta tables are opened concurrently for one request.
const OPEN_CONCURRENCY: usize = 8;

/// Which process serves Flight SQL, and where its queries run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `strata serve`: DataFusion in this process.
    Embedded,
    /// Inside the scheduler at `address` (`host:port`): queries run on its executors.
    Scheduler {
        /// The scheduler's own address (loopback when it listens on every interface), which the sessions are
        /// Ballista clients of.
        address: String,
    },
}

impl Backend {
    /// `embedded` or `scheduler`, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Scheduler { .. } => "scheduler",
        }
    }

    /// The engine that reads tables and runs plans.
    fn engine(&self) -> Engine {
        match self {
            Backend::Embedded => Engine::Embedded,
            Backend::Scheduler { address } => Engine::Cluster {
                scheduler: address.clone(),
            },
        }
    }
}

/// Plans and runs the statements of one server.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    backend: Backend,
    warehouse: Warehouse,
}

impl QueryEngine {
    pub fn new(backend: Backend, warehouse: Warehouse) -> Self {
        Self { backend, warehouse }
    }

    /// A session with Strata's functions, catalog `strata` as the default, nothing registered yet.
    fn session(&self) -> SessionContext {
        let options = StrataOptions::default().with_warehouse(self.warehouse.to_string());
        let config = session_config(options).with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA);
        SessionContext::new_with_state(embedded_state(config))
    }

    /// Where a statement runs: on the cluster for the scheduler (unless it reads only metadata), else here.
    async fn query_session(&self, query: &ReadOnlyQuery) -> Result<(SessionContext, Engine), Status> {
        match &self.backend {
            Backend::Scheduler { address } if !query.needs_all_tables() => {
                let options = StrataOptions::default().with_warehouse(self.warehouse.to_string());
                let config = strata_planner::engine::cluster_config(options)
                    .with_default_catalog_and_schema(CATALOG, DEFAULT_SCHEMA);
                let ctx = strata_planner::engine::remote_context_with_config(address, config)
                    .await
                    .map_err(|e| {
                        Status::unavailable(format!("the cluster cannot take queries: {}", e.strip_backtrace()))
                    })?;
                Ok((ctx, self.backend.engine()))
            }
            _ => Ok((self.session(), Engine::Embedded)),
        }
    }

    /// The warehouse's tables right now.
    pub async fn tables(&self) -> Result<Vec<WarehouseTable>, Status> {
        Ok(catalog::list_tables(&self.warehouse).await)
    }

    /// Open `tables` and register them in `ctx`; a table that cannot be opened fails the request.
    async fn register(&self, ctx: &SessionContext, engine: &Engine, tables: Vec<WarehouseTable>) -> Result<(), Status> {
        // Each future owns what it uses (clones of Arcs), which keeps the request future `Send` and simple.
        let opened: Vec<(WarehouseTable, Opened)> = futures::stream::iter(tables)
            .map(|table| {
                let (warehouse, engine, ctx) = (self.warehouse.clone(), engine.clone(), ctx.clone());
                async move {
                    let provider = catalog::open(&warehouse, &table, &engine, &ctx).await;
                    (table, provider)
                }
            })
            .buffer_unordered(OPEN_CONCURRENCY)
            .collect()
            .await;
        for (table, provider) in opened {
            catalog::register(ctx, &table, provider?)?;
        }
        Ok(())
    }

    /// Plan a checked statement against the current warehouse (read-only guard of DataFusion included).
    pub async fn plan(&self, query: &ReadOnlyQuery) -> Result<DataFrame, Status> {
        let (ctx, engine) = self.query_session(query).await?;
        let tables = self.tables().await?;
        let wanted = if query.needs_all_tables() {
            tables
        } else {
            let references = ctx
                .state()
                .resolve_table_references(&query.statement)
                .map_err(plan_status)?;
            catalog::referenced(&tables, &references).unwrap_or(tables)
        };
        tracing::debug!(tables = wanted.len(), sql = %query.sql, "Flight SQL: planning");
        self.register(&ctx, &engine, wanted).await?;
        ctx.sql_with_options(&query.sql, readonly::sql_options())
            .await
            .map_err(plan_status)
    }

    /// Every table with its Arrow schema as clients see it (tables that cannot be opened are skipped).
    pub async fn table_schemas(&self, tables: Vec<WarehouseTable>) -> Vec<(WarehouseTable, SchemaRef)> {
        let ctx = self.session();
        let engine = Engine::Embedded;
        let opened: Vec<Option<(WarehouseTable, SchemaRef)>> = futures::stream::iter(tables)
            .map(|table| {
                let (warehouse, engine, ctx) = (self.warehouse.clone(), engine.clone(), ctx.clone());
                async move {
                    match catalog::open(&warehouse, &table, &engine, &ctx).await {
                        Ok(provider) => {
                            let schema = client_schema(&provider.schema());
                            Some((table, schema))
                        }
                        Err(status) => {
                            tracing::warn!(%table, error = %status.message(), "Flight SQL: table left out of GetTables");
                            None
                        }
                    }
                }
            })
            .buffer_unordered(OPEN_CONCURRENCY)
            .collect()
            .await;
        let mut out: Vec<(WarehouseTable, SchemaRef)> = opened.into_iter().flatten().collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// A DataFusion planning error as a gRPC status: the client's mistake unless DataFusion itself failed.
pub fn plan_status(e: DataFusionError) -> Status {
    let message = e.strip_backtrace();
    match e.find_root() {
        DataFusionError::Plan(m)
            if m.starts_with("DDL not supported")
                || m.starts_with("DML not supported")
                || m.starts_with("Statement not supported") =>
        {
            Status::permission_denied(format!("{READ_ONLY}: {message}"))
        }
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => Status::invalid_argument(message),
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(message),
        _ => {
            tracing::error!(error = %message, "Flight SQL: planning failed");
            Status::internal(message)
        }
    }
}

/// The `$1, $2, …` parameters of a plan, in order, with the types DataFusion inferred (`None`: unknown).
pub fn parameter_fields(frame: &DataFrame) -> Result<Vec<Option<FieldRef>>, Status> {
    let fields = frame.logical_plan().get_parameter_fields().map_err(plan_status)?;
    let mut numbered = Vec::with_capacity(fields.len());
    for (name, field) in fields {
        let index = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "named parameter {name} is not supported: use ? or $1, $2, … placeholders"
                ))
            })?;
        numbered.push((index, field));
    }
    let count = numbered.iter().map(|(i, _)| *i).max().unwrap_or(0);
    let mut out = vec![None; count];
    for (index, field) in numbered {
        out[index - 1] = field;
    }
    Ok(out)
}

/// The parameter schema announced for a prepared statement (`$1: Utf8`, …; `Null` where unknown).
pub fn parameter_schema(fields: &[Option<FieldRef>]) -> Schema {
    Schema::new(
        fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let data_type = f.as_ref().map_or(DataType::Null, |f| client_type(f.data_type()));
                Field::new(format!("${}", i + 1), data_type, true)
            })
            .collect::<Vec<_>>(),
    )
}

/// Substitute parameter values, converted to the types the plan expects.
pub fn bind(frame: DataFrame, values: Option<&[ScalarValue]>) -> Result<DataFrame, Status> {
    let fields = parameter_fields(&frame)?;
    let values = values.unwrap_or_default();
    if fields.is_empty() && values.is_empty() {
        return Ok(frame);
    }
    if fields.len() != values.len() {
        return Err(Status::invalid_argument(format!(
            "the statement has {} parameter(s) but {} value(s) are bound; bind one value per parameter",
            fields.len(),
            values.len()
        )));
    }
    let mut converted = Vec::with_capacity(values.len());
    for (i, (value, field)) in values.iter().zip(&fields).enumerate() {
        let value = match field {
            Some(field) if value.data_type() != *field.data_type() => {
                value.cast_to(field.data_type()).map_err(|e| {
                    Status::invalid_argument(format!(
                        "parameter ${} : cannot convert {} to {}: {}",
                        i + 1,
                        value.data_type(),
                        field.data_type(),
                        e.strip_backtrace()
                    ))
                })?
            }
            _ => value.clone(),
        };
        converted.push(value);
    }
    frame.with_param_values(converted).map_err(plan_status)
}

/// One row of parameter values from the batches a client bound with `DoPut`.
pub fn parameter_row(batches: &[RecordBatch]) -> Result<Vec<ScalarValue>, Status> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0).filter(|_| rows == 1) else {
        return Err(Status::invalid_argument(format!(
            "bind exactly one row of parameter values (got {rows}); execute the statement once per row"
        )));
    };
    batch
        .columns()
        .iter()
        .map(|column| {
            ScalarValue::try_from_array(column.as_ref(), 0)
                .map_err(|e| Status::invalid_argument(format!("unsupported parameter value: {}", e.strip_backtrace())))
        })
        .collect()
}

/// View types (DataFusion reads Parquet strings as `Utf8View`) become their classic forms, which every
/// Flight SQL client (ADBC, JDBC, older pyarrow) reads.
fn client_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// The schema results are sent with.
pub fn client_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(client_type(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn to_client(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                datafusion::arrow::compute::cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

/// Run a read-only statement on the warehouse in this process exactly as the server runs it (same checks, catalog,
/// parameter binding and result types): `strata query --warehouse`, the embedded reference for remote results.
pub async fn query_local(
    warehouse: &Warehouse,
    sql: &str,
    params: &[String],
) -> Result<(SchemaRef, Vec<RecordBatch>), FlightError> {
    let failed = |s: Status| FlightError::Client(format!("(embedded): {}", s.message()));
    let query = readonly::check(sql).map_err(failed)?;
    let frame = QueryEngine::new(Backend::Embedded, warehouse.clone())
        .plan(&query)
        .await
        .map_err(failed)?;
    let values: Vec<ScalarValue> = params.iter().map(|p| ScalarValue::Utf8(Some(p.clone()))).collect();
    let frame = bind(frame, Some(&values)).map_err(failed)?;
    let schema = client_schema(frame.schema().as_arrow());
    let batches = frame.collect().await.map_err(|e| failed(plan_status(e)))?;
    let batches = batches
        .into_iter()
        .map(|b| to_client(b, &schema))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FlightError::Client(format!("(embedded): {e}")))?;
    Ok((schema, batches))
}

/// Execute a planned query and stream its batches as Flight data.
pub async fn execute(frame: DataFrame) -> Result<FlightDataStream, Status> {
    let stream = frame.execute_stream().await.map_err(|e| {
        let status = plan_status(e);
        tracing::warn!(error = %status.message(), "Flight SQL: query failed to start");
        status
    })?;
    let schema = client_schema(&stream.schema());
    let batch_schema = Arc::clone(&schema);
    let batches = stream.map(move |batch| {
        let batch = batch.map_err(|e| ArrowFlightError::ExternalError(Box::new(e)))?;
        to_client(batch, &batch_schema).map_err(ArrowFlightError::Arrow)
    });
    let flight = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(|e| {
            tracing::warn!(error = %e, "Flight SQL: query failed while streaming");
            Status::from(e)
        });
    Ok(Box::pin(flight))
}

/// A single metadata batch (catalogs, tables, SQL info, …) as Flight data.
pub fn encode_batch(schema: SchemaRef, batch: Result<RecordBatch, ArrowFlightError>) -> FlightDataStream {
    let flight = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async move { batch }))
        .map_err(Status::from);
    Box::pin(flight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray, StringViewArray};

    #[tokio::test]
    async fn parameters_are_numbered_typed_and_bound() {
        let ctx = SessionContext::new();
        let query =
            readonly::check("SELECT * FROM (VALUES ('AAPL', 1), ('MSFT', 2)) t(symbol, n) WHERE symbol = ? AND n > ?")
                .unwrap();
        let frame = ctx.sql(&query.sql).await.unwrap();
        let fields = parameter_fields(&frame).unwrap();
        assert_eq!(fields.len(), 2);
        let schema = parameter_schema(&fields);
        assert_eq!(schema.field(0).name(), "$1");

        let unbound = bind(frame.clone(), None).unwrap_err();
        assert_eq!(unbound.code(), tonic::Code::InvalidArgument);

        // Python ints arrive as Int64 and strings as Utf8, whatever the plan inferred.
        let values = vec![ScalarValue::Utf8(Some("AAPL".into())), ScalarValue::Int64(Some(0))];
        let rows = bind(frame, Some(&values)).unwrap().collect().await.unwrap();
        assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    }

    #[test]
    fn one_parameter_row() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
        let one = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(vec![7]))]).unwrap();
        assert_eq!(
            parameter_row(std::slice::from_ref(&one)).unwrap(),
            vec![ScalarValue::Int64(Some(7))]
        );
        let two = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        assert!(parameter_row(&[two]).is_err());
        assert!(parameter_row(&[one.clone(), one]).is_err());
        assert!(parameter_row(&[]).is_err());
    }

    #[test]
    fn views_are_sent_as_classic_strings() {
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8View, true)]);
        let client = client_schema(&schema);
        assert_eq!(client.field(0).data_type(), &DataType::Utf8);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(StringViewArray::from(vec![Some("a"), None]))],
        )
        .unwrap();
        let sent = to_client(batch, &client).unwrap();
        let strings = sent.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(strings.value(0), "a");
        assert!(datafusion::arrow::array::Array::is_null(strings, 1));
    }
}
