//! Kafka tables in a job. A table the job reads is a source: planning decides, per partition, where this run
//! starts (the offsets its output tables stored) and the run stages the messages once, as rows plus dead letters.
//! A table the job inserts into is a sink. See `strata_connectors::kafka` for the exactly-once protocol.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::common::TableReference;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder, col};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CreateExternalTable, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Value;
use strata_connectors::kafka::offsets::{self, Resume};
use strata_connectors::kafka::scan::{KafkaScan, KafkaTable, PartitionRange};
use strata_connectors::kafka::{self, KafkaOptions, StartingPoint, TopicAddress, TopicClient};
use strata_connectors::stage::StageTable;
use strata_connectors::{ConnectorError, location};
use strata_sql::{JobStatement, StatementKind};
use url::Url;

pub mod progress;

use crate::dag::StageDag;
use crate::error::df_err;
use crate::error::{PlannerError, Result};
use crate::plan::{Output, PlannedStage};

/// (low, high) watermarks per partition.
type Watermarks = BTreeMap<i32, (i64, i64)>;

/// A Kafka table the job reads.
#[derive(Debug, Clone)]
pub struct KafkaSource {
    pub stage: usize,
    pub name: String,
    pub address: TopicAddress,
    pub options: KafkaOptions,
    /// Names the offsets (transaction app ids) and the monitoring consumer group.
    pub consumer: String,
    pub declared: SchemaRef,
    /// This run's messages: good rows and dead letters, staged once.
    pub staged: Arc<StageTable>,
    pub partitions: Vec<i32>,
    pub ranges: Vec<PartitionRange>,
    /// Output tables whose commits carry this source's offsets.
    pub feeds: Vec<String>,
    /// Tables that already hold a recovery run's range and skip their commit.
    pub ahead: Vec<String>,
    pub recovery: bool,
    /// Partitions no output table has read yet (their start came from `starting_offsets`).
    pub unread: Vec<i32>,
    pub dead_letter: DeadLetter,
}

/// Where a source's malformed messages go.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub table: String,
    pub url: Url,
    /// Next offsets the dead-letter table already holds, per partition: rows below them are not written again.
    pub stored: BTreeMap<i32, Option<i64>>,
}

/// A Kafka table the job inserts into.
#[derive(Debug, Clone)]
pub struct KafkaSink {
    pub address: TopicAddress,
    pub options: KafkaOptions,
    pub declared: SchemaRef,
}

/// What declaring a Kafka table gave.
pub enum Declared {
    Source(Box<KafkaSource>),
    Sink(KafkaSink),
}

pub(crate) fn option_text(v: &Value) -> String {
    match v {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
        other => other.to_string(),
    }
}

fn job_err(stmt: &JobStatement, e: impl std::fmt::Display) -> PlannerError {
    PlannerError::Job {
        location: stmt.location.clone(),
        message: e.to_string(),
    }
}

/// The schema the statement declares (DataFusion's own column-definition rules, NOT NULL included).
pub(crate) async fn declared_schema(
    ctx: &SessionContext,
    stmt: &JobStatement,
    create: &CreateExternalTable,
) -> Result<SchemaRef> {
    if create.columns.is_empty() {
        return Err(job_err(
            stmt,
            format!(
                "table '{}' must declare its columns: CREATE EXTERNAL TABLE name (column type, …) STORED AS {} …",
                stmt.target().name,
                create.file_type.to_uppercase()
            ),
        ));
    }
    let mut probe = create.clone();
    probe.file_type = "CSV".into();
    probe.options = Vec::new();
    let plan = ctx
        .state()
        .statement_to_plan(DFStatement::CreateExternalTable(probe))
        .await
        .map_err(|e| df_err(stmt, e))?;
    match plan {
        LogicalPlan::Ddl(datafusion::logical_expr::DdlStatement::CreateExternalTable(c)) => {
            Ok(Arc::new(c.schema.as_arrow().clone()))
        }
        _ => Err(job_err(stmt, "not a table declaration")),
    }
}

/// Plan a `STORED AS KAFKA` statement: check location, options and schema, connect, and register what
/// downstream stages read.
pub async fn declare(
    ctx: &SessionContext,
    dag: &StageDag,
    index: usize,
    create: &CreateExternalTable,
    job_path: &str,
    warehouse: &Path,
    default_brokers: &str,
) -> Result<Declared> {
    let stmt = &dag.stages[index].statement;
    let name = stmt.target().name;
    let written = create.locations.first().cloned().unwrap_or_default();
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
    let raw: Vec<(String, String)> = create
        .options
        .iter()
        .map(|(k, v)| (k.clone(), option_text(v)))
        .collect();
    let options = KafkaOptions::parse(&raw).map_err(|e| job_err(stmt, format!("Kafka table '{name}': {e}")))?;
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
        return Ok(Declared::Sink(KafkaSink {
            address,
            options,
            declared,
        }));
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
    ctx.register_table(
        TableReference::from(name.as_str()),
        Arc::new(ViewTable::new(view, None)),
    )
    .map_err(|e| df_err(stmt, e))?;

    let dl_name = options
        .dead_letter
        .clone()
        .unwrap_or_else(|| format!("{name}_dead_letter"));
    let dl_url = location::warehouse_table(&dl_name, warehouse).map_err(|e| job_err(stmt, e))?;
    Ok(Declared::Source(Box::new(KafkaSource {
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
        ahead: Vec::new(),
        recovery: false,
        unread: Vec::new(),
        dead_letter: DeadLetter {
            table: dl_name,
            url: dl_url,
            stored: BTreeMap::new(),
        },
    })))
}

/// Stages that depend on `index`, directly or not.
fn downstream(dag: &StageDag, index: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![index];
    while let Some(i) = todo.pop() {
        for d in dag.dependents(i) {
            if seen.insert(d.index) {
                todo.push(d.index);
            }
        }
    }
    seen
}

/// Once every stage is planned: decide each source's ranges from the offsets its output tables stored, and give
/// its stage the scan.
pub async fn resolve(
    source: &mut KafkaSource,
    dag: &StageDag,
    stages: &mut [Option<PlannedStage>],
    distributed: bool,
) -> Result<()> {
    let stmt = dag.stages[source.stage].statement.clone();
    let mut feeds: Vec<Output> = Vec::new();
    for i in downstream(dag, source.stage) {
        if let Some(out) = stages[i].as_ref().and_then(|s| s.output.as_ref())
            && out.sink.is_none()
            && !feeds.iter().any(|f| f.table == out.table)
        {
            feeds.push(out.clone());
        }
    }
    let topic = source.address.topic.clone();
    let mut stored = Vec::with_capacity(feeds.len());
    for out in &feeds {
        stored.push(
            offsets::stored(&out.url, &source.consumer, &topic, &source.partitions)
                .await
                .map_err(|e| job_err(&stmt, e))?,
        );
    }
    let resume: Resume = offsets::resume(&source.partitions, &stored).map_err(|e| job_err(&stmt, e))?;
    source.dead_letter.stored = offsets::stored(&source.dead_letter.url, &source.consumer, &topic, &source.partitions)
        .await
        .map_err(|e| job_err(&stmt, e))?
        .unwrap_or_default();

    // Where a partition nobody has read yet starts, and the high watermarks now.
    let client = {
        let address = source.address.clone();
        let settings = source.options.client.clone();
        let partitions = source.partitions.clone();
        let starting = source.options.starting;
        let unread: Vec<i32> = resume
            .start
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(p, _)| *p)
            .collect();
        source.unread = unread.clone();
        tokio::task::spawn_blocking(
            move || -> Result<(Watermarks, BTreeMap<i32, i64>), Box<ConnectorError>> {
                let client = TopicClient::connect(&address, &settings)?;
                let mut marks = BTreeMap::new();
                for &p in &partitions {
                    marks.insert(p, client.watermarks(p)?);
                }
                let first = match starting {
                    StartingPoint::Earliest => unread.iter().map(|p| (*p, marks[p].0)).collect(),
                    StartingPoint::Latest => unread.iter().map(|p| (*p, marks[p].1)).collect(),
                    StartingPoint::Timestamp(ms) if !unread.is_empty() => client.offsets_for_time(&unread, ms)?,
                    StartingPoint::Timestamp(_) => BTreeMap::new(),
                };
                Ok((marks, first))
            },
        )
    };
    let (marks, first) = client
        .await
        .map_err(|e| job_err(&stmt, e))?
        .map_err(|e| job_err(&stmt, format!("Kafka table '{}': {e}", source.name)))?;

    let mut ranges = Vec::with_capacity(source.partitions.len());
    for &p in &source.partitions {
        let (low, high) = marks[&p];
        let start = match resume.start.get(&p).copied().flatten() {
            Some(stored) => stored,
            None => first.get(&p).copied().unwrap_or(low),
        };
        if start < low {
            return Err(job_err(
                &stmt,
                format!(
                    "Kafka table '{}': partition {p} starts at offset {low}, but this job stopped at {start}: \
                     messages {start}..{low} were deleted (retention) before they were read",
                    source.name
                ),
            ));
        }
        let cap = source.options.max_per_partition.map(|n| start.saturating_add(n));
        let stop = match (resume.stop.get(&p).copied(), cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ranges.push(PartitionRange {
            partition: p,
            start,
            stop,
            planned_high: high,
        });
    }
    source.recovery = resume.is_recovery();
    source.ahead = resume.ahead.iter().map(|&t| feeds[t].table.clone()).collect();
    source.feeds = feeds.iter().map(|f| f.table.clone()).collect();
    source.ranges = ranges;
    if source.recovery {
        tracing::warn!(
            source = %source.name,
            ahead = ?source.ahead,
            "the last run stopped between commits; this run re-reads its range for the tables that missed it"
        );
    }

    let table = KafkaTable::new(KafkaScan {
        address: source.address.clone(),
        declared: source.declared.clone(),
        options: source.options.clone(),
        ranges: source.ranges.clone(),
        single_task: distributed,
    });
    let plan = LogicalPlanBuilder::scan(source.name.as_str(), provider_as_source(Arc::new(table)), None)?.build()?;
    if let Some(stage) = stages[source.stage].as_mut() {
        stage.plan = Some(plan);
    }
    Ok(())
}

/// The dead-letter table's columns.
pub fn dead_letter_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("topic", DataType::Utf8, false),
        Field::new("partition", DataType::Int32, false),
        Field::new("offset", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, true),
        Field::new("error", DataType::Utf8, false),
    ]))
}
