//! Declarations: every `CREATE EXTERNAL TABLE` of a job is declared by the module of its connector — [`kafka`],
//! [`postgres`], [`delta`] or [`listing`] — chosen once, from its [`SourceFormat`]. A declaration checks the table
//! before anything runs and says what the job's readers scan and where inserts into it go; it registers nothing
//! itself. Adding a connector is adding a `SourceFormat` variant and its module.

mod delta;
pub(crate) mod format;
mod kafka;
mod listing;
mod options;
mod postgres;
mod stores;

use std::sync::Arc;
use strata_connectors::location::Warehouse;

use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::CreateExternalTable;
use strata_connectors::location;
use strata_sql::JobStatement;
use url::Url;

use self::format::SourceFormat;
use crate::dag::StageDag;
use crate::engine::Engine;
use crate::error::{Result, job_err};
use crate::kafka::KafkaSource;
use crate::output::Sink;

/// What declarations may need of the job being planned.
pub(crate) struct Declaring<'a> {
    pub ctx: &'a SessionContext,
    pub dag: &'a StageDag,
    pub job_path: &'a str,
    pub warehouse: &'a Warehouse,
    /// Kafka bootstrap servers for locations that name none.
    pub kafka_brokers: &'a str,
    pub engine: &'a Engine,
    /// Where a submitted job may read and write; `None` for a job run by its owner.
    pub confinement: Option<&'a crate::confine::Confinement>,
}

/// What declaring a table gave.
pub(crate) struct Declared {
    pub format: SourceFormat,
    /// The location reports show: a file source's resolved URL, any other source's location as written.
    pub location: String,
    /// What the job's readers scan, to register under the table's name.
    pub provider: Option<Arc<dyn TableProvider>>,
    /// A file source's event-time column (`OPTIONS ('event_time' 'ts')`), for the run mode.
    pub event_time: Option<String>,
    /// A Delta source's latest event time as its log's statistics give it (microseconds; within 1 ms).
    pub latest_hint: Option<i64>,
    /// How far below its watermark incremental runs read again (`OPTIONS ('lateness' '2d')`), in microseconds.
    pub lateness: Option<i64>,
    /// Where inserts into the table go (a Delta source takes them as files, without a sink).
    pub sink: Option<Sink>,
    /// A topic the job reads: the run stages its messages.
    pub kafka: Option<Box<KafkaSource>>,
}

/// Declare the source of stage `index`.
pub(crate) async fn declare(at: &Declaring<'_>, index: usize, create: &CreateExternalTable) -> Result<Declared> {
    let stmt = &at.dag.stages[index].statement;
    let (create, lateness) = options::lateness_option(stmt, create)?;
    let create = &create;
    let format = SourceFormat::of(create);
    let mut declared = Declared {
        format,
        location: options::written_location(create),
        provider: None,
        event_time: None,
        latest_hint: None,
        lateness,
        sink: None,
        kafka: None,
    };
    // Confined before anything is opened: a refused location is never read, listed or connected to.
    if let Some(confinement) = at.confinement {
        for written in &create.locations {
            let place = match format {
                SourceFormat::Delta | SourceFormat::Listing => location::resolve(written, at.warehouse)
                    .map_err(|e| job_err(stmt, e))?
                    .to_string(),
                SourceFormat::Kafka | SourceFormat::Postgres => written.clone(),
            };
            confinement
                .check(&place)
                .map_err(|e| job_err(stmt, format!("table '{}': {e}", stmt.target().name)))?;
        }
    }
    if at.confinement.is_some() && format == SourceFormat::Kafka {
        refuse_kafka_connection_options(stmt, create)?;
    }
    match format {
        SourceFormat::Kafka => {
            let brokers = at.kafka_brokers;
            match kafka::declare(at.ctx, at.dag, index, create, at.job_path, at.warehouse, brokers).await? {
                kafka::Declared::Source(source, view) => {
                    declared.provider = Some(view);
                    declared.kafka = Some(source);
                }
                kafka::Declared::Sink(sink) => declared.sink = Some(Sink::Kafka(sink)),
            }
        }
        SourceFormat::Postgres => {
            // `event_time` makes incremental runs read only the rows above the last run's watermark (the range
            // filter is pushed into PostgreSQL's query).
            let (create, event_time) = options::event_time_option(create);
            let pg = postgres::declare(at.ctx, at.dag, index, &create, at.engine.is_distributed()).await?;
            if event_time.is_some() && pg.source.is_none() {
                return Err(job_err(
                    stmt,
                    "'event_time' is an option of a table the job reads; this one is only written",
                ));
            }
            declared.sink = pg.sink.map(|sink| Sink::Postgres(Box::new(sink)));
            declared.provider = pg.source;
            declared.event_time = event_time;
        }
        SourceFormat::Delta => {
            let (_, event_time, url) = file_source(at, stmt, create)?;
            let name = stmt.target().name;
            let (provider, hint) = delta::declare(at.ctx, stmt, &name, &url, at.engine, event_time.as_deref()).await?;
            declared.provider = Some(provider);
            declared.latest_hint = hint;
            declared.event_time = event_time;
            declared.location = url.to_string();
        }
        SourceFormat::Listing => {
            let (create, event_time, url) = file_source(at, stmt, create)?;
            let name = stmt.target().name;
            declared.provider =
                Some(listing::declare(at.ctx, stmt, &name, &create, &url, event_time.as_deref()).await?);
            declared.event_time = event_time;
            declared.location = url.to_string();
        }
    }
    if declared.lateness.is_some() && declared.event_time.is_none() {
        return Err(job_err(
            stmt,
            "'lateness' needs the source's 'event_time': it is measured below its watermark",
        ));
    }
    Ok(declared)
}

/// librdkafka settings that choose where and how a client connects: not taken from a submitted job, which could
/// otherwise send the deployment's SASL credentials (from the environment) to a broker of its choosing, in clear.
const KAFKA_CONNECTION_KEYS: &[&str] = &[
    "bootstrap.",
    "metadata.broker",
    "security.",
    "sasl.",
    "ssl.",
    "ssl_",
    "enable.ssl",
    "plugin.",
    "client.dns",
    "socket.",
    "broker.",
];

fn refuse_kafka_connection_options(stmt: &JobStatement, create: &CreateExternalTable) -> Result<()> {
    for (key, _) in &create.options {
        let lower = key.to_ascii_lowercase();
        let setting = lower.strip_prefix("kafka.").unwrap_or(&lower);
        if lower.starts_with("kafka.") && KAFKA_CONNECTION_KEYS.iter().any(|p| setting.starts_with(p)) {
            return Err(job_err(
                stmt,
                format!(
                    "Kafka table '{}': option '{key}' is not taken from submitted jobs: the scheduler's operator \
                     chooses the brokers and how to reach them",
                    stmt.target().name
                ),
            ));
        }
    }
    Ok(())
}

/// A file source (Delta or listing): the declaration without Strata's own options, its event-time column, and its
/// location resolved against the warehouse.
fn file_source(
    at: &Declaring<'_>,
    stmt: &JobStatement,
    create: &CreateExternalTable,
) -> Result<(CreateExternalTable, Option<String>, Url)> {
    let written = options::written_location(create);
    // Credentials come from the environment, never from a job file (which is shared, versioned and logged).
    if let Some((key, _)) = create
        .options
        .iter()
        .find(|(k, _)| strata_connectors::store::is_secret_key(k))
    {
        return Err(job_err(
            stmt,
            format!(
                "option '{key}' of table '{}' is a credential: job files may not hold secrets; give it in the \
                 environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN for s3://, \
                 AZURE_STORAGE_ACCOUNT_KEY or another AZURE_ credential for az://)",
                stmt.target().name
            ),
        ));
    }
    let (create, event_time) = options::event_time_option(create);
    let (create, store) = options::store_options(&create);
    let url = location::resolve(&written, at.warehouse).map_err(|e| job_err(stmt, e))?;
    if !store.is_empty() {
        // Bucket settings are process-wide in the scheduler: a submitted job must not point a bucket that other
        // runs (and the ledger) use at another endpoint.
        if at.confinement.is_some() {
            return Err(job_err(
                stmt,
                format!(
                    "table '{}': location options ({}) are not taken from submitted jobs: the scheduler's operator \
                     configures its stores",
                    stmt.target().name,
                    strata_connectors::store::LOCATION_OPTIONS.join(", ")
                ),
            ));
        }
        stores::declare(at.ctx, stmt, &url, store)?;
    }
    Ok((create, event_time, url))
}
