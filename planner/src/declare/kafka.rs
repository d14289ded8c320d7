//! `STORED AS KAFKA`: a topic the job reads (a [`KafkaSource`], whose messages the run stages once, see
//! `crate::kafka`) or one it inserts into (a [`KafkaSink`]), never both. Planning checks the location, options
//! and schema and connects once, so an unreachable broker stops the job before anything runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{LogicalPlanBuilder, col};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::CreateExternalTable;
use strata_connectors::kafka::{self, KafkaOptions, TopicAddress, TopicClient};
use strata_connectors::location::Warehouse;
use strata_connectors::stage::StageTable;
use strata_connectors::{ConnectorError, location};
use strata_sql::StatementKind;

use super::options::{declared_schema, option_pairs, written_location};
use crate::dag::StageDag;
use crate::error::{Result, job_err};
use crate::kafka::{DeadLetter, KafkaSource};
use crate::output::KafkaSink;
use strata_connectors::kafka::outbox::Outbox;

/// What declaring a Kafka table gave.
pub(crate) enum Declared {
    /// A topic the job reads, with the view its readers scan (the messages that decoded).
    Source(Box<KafkaSource>, Arc<dyn TableProvider>),
    Sink(Box<KafkaSink>),
}

/// Plan a `STORED AS KAFKA` statement: check location, options and schema, connect, and build what downstream
/// stages read.
pub(crate) async fn declare(
    ctx: &SessionContext,
    dag: &StageDag,
    index: usize,
    create: &CreateExternalTable,
    job_path: &str,
    warehouse: &Warehouse,
    default_brokers: &str,
) -> Result<Declared> {
    let stmt = &dag.stages[index].statement;
    let name = stmt.target().name;
    let written = written_location(create);
    let written = match written.strip_prefix("kafka:///") {
        Some(topic) if default_brokers.is_empty() => {
            return Err(job_err(
                stmt,
                format!(
                    "Kafka table '{name}': '{written}' names no brokers; write kafka://host:port/{topic} or pass \
                     --kafka-brokers (STRATA_KAFKA_BROKERS)"
                ),
            ));
        }
        Some(topic) => format!("kafka://{default_brokers}/{topic}"),
        None => written,
    };
    let address = TopicAddress::parse(&written).map_err(|e| job_err(stmt, e))?;
    // Credentials come from the environment (STRATA_KAFKA_SASL_*), never from a job file.
    if let Some((key, _)) = option_pairs(create)
        .iter()
        .find(|(k, _)| strata_connectors::store::is_secret_key(k))
    {
        return Err(job_err(
            stmt,
            format!(
                "Kafka table '{name}': option '{key}' is a credential: job files may not hold secrets; give it in \
                 the environment (STRATA_KAFKA_SASL_USERNAME / STRATA_KAFKA_SASL_PASSWORD)"
            ),
        ));
    }
    let options =
        KafkaOptions::parse(&option_pairs(create)).map_err(|e| job_err(stmt, format!("Kafka table '{name}': {e}")))?;
    let declared = declared_schema(ctx, stmt, create).await?;
    if options.format == kafka::Format::Avro {
        kafka::avro::schema(&declared).map_err(|e| job_err(stmt, format!("Kafka table '{name}': {e}")))?;
    }

    let inserted = dag
        .stages
        .iter()
        .any(|s| matches!(s.statement.kind, StatementKind::Insert { .. }) && s.statement.target().name == name);
    let partitions = {
        let address = address.clone();
        let settings = options.client.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<i32>, Box<ConnectorError>> {
            Ok(TopicClient::connect(&address, &settings)?.partitions()?)
        })
    };
    let partitions = partitions
        .await
        .map_err(|e| job_err(stmt, e))?
        .map_err(|e| job_err(stmt, format!("Kafka table '{name}': {e}")))?;

    if inserted {
        if let Some(column) = &options.key_column
            && declared.field_with_name(column).is_err()
        {
            return Err(job_err(
                stmt,
                format!("key column '{column}' is not a column of '{name}'"),
            ));
        }
        let readers: Vec<&str> = dag
            .dependents(index)
            .filter(|s| !matches!(s.statement.kind, StatementKind::Insert { .. }))
            .map(|s| s.name.as_str())
            .collect();
        if !readers.is_empty() {
            return Err(job_err(
                stmt,
                format!(
                    "Kafka table '{name}' is written by this job and read by {}: a job either reads a topic or \
                     writes it",
                    readers.join(", ")
                ),
            ));
        }
        let stem = Path::new(job_path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = format!("{stem}.{name}");
        let url = warehouse
            .join(&format!("_strata/kafka_outbox/{id}"))
            .map_err(|e| job_err(stmt, e))?;
        return Ok(Declared::Sink(Box::new(KafkaSink {
            address,
            options,
            declared,
            outbox: Outbox { url, id, partitions },
        })));
    }

    let consumer = options.consumer.clone().unwrap_or_else(|| {
        let stem = Path::new(job_path)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("job");
        format!("strata-{stem}")
    });
    let staged_schema = kafka::staged_schema(&declared);
    let staged = Arc::new(StageTable::new(staged_schema));
    // Downstream stages see the declared columns of the messages that decoded.
    let view = LogicalPlanBuilder::scan(name.as_str(), provider_as_source(staged.clone()), None)?
        .filter(col(kafka::ERROR_COLUMN).is_null())?
        .project(declared.fields().iter().map(|f| col(f.name().as_str())))?
        .build()?;
    let view: Arc<dyn TableProvider> = Arc::new(ViewTable::new(view, None));

    let dl_name = options
        .dead_letter
        .clone()
        .unwrap_or_else(|| format!("{name}_dead_letter"));
    let dl_url = location::warehouse_table(&dl_name, warehouse).map_err(|e| job_err(stmt, e))?;
    let source = KafkaSource {
        stage: index,
        name,
        address,
        options,
        consumer,
        declared,
        staged,
        partitions,
        ranges: Vec::new(),
        feeds: Vec::new(),
        stored: BTreeMap::new(),
        ahead: Vec::new(),
        recovery: false,
        unread: Vec::new(),
        dead_letter: DeadLetter {
            table: dl_name,
            url: dl_url,
            stored: BTreeMap::new(),
        },
    };
    Ok(Declared::Source(Box::new(source), view))
}
