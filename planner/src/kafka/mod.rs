//! Kafka sources in a job (declared in `crate::declare::kafka`). Once every stage is planned, [`resolve`] decides,
//! per partition, where this run starts (the offsets its output tables stored); the run stages the messages once,
//! as rows plus dead letters ([`progress`]). See `strata_connectors::kafka` for the exactly-once protocol.
//!
//! A source's feeds are the tables downstream of it that store its offsets with their rows: Delta tables (transaction
//! actions in their commits), PostgreSQL tables (rows of the sink database's offsets table, in the write's
//! transaction) and topics (their outbox's commit). [`feeds::check`] refuses a job in which a source feeds none of
//! them before anything connects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use strata_connectors::ConnectorError;
use strata_connectors::kafka::offsets::{self, Resume};
use strata_connectors::kafka::scan::{KafkaScan, KafkaTable, PartitionRange};
use strata_connectors::kafka::{KafkaOptions, StartingPoint, TopicAddress, TopicClient};
use strata_connectors::stage::StageTable;
use url::Url;

pub mod feeds;
pub mod progress;

use crate::dag::StageDag;
use crate::error::{Result, job_err};
use crate::output::Output;
use crate::stage::PlannedStage;

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
    /// What each feed had stored when the run was planned (a PostgreSQL sink refuses to commit if it changed).
    pub stored: BTreeMap<String, BTreeMap<i32, Option<i64>>>,
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

/// Stages that depend on `index`, directly or not.
pub(crate) fn downstream(dag: &StageDag, index: usize) -> BTreeSet<usize> {
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

/// Once every stage is planned: decide each source's ranges from the offsets its output tables stored, and return
/// the scan its stage runs (which stages the messages).
pub(crate) async fn resolve(
    source: &mut KafkaSource,
    dag: &StageDag,
    stages: &[Option<PlannedStage>],
    distributed: bool,
) -> Result<LogicalPlan> {
    let stmt = dag.stages[source.stage].statement.clone();
    let mut feeds: Vec<Output> = Vec::new();
    for i in downstream(dag, source.stage) {
        if let Some(out) = stages[i].as_ref().and_then(PlannedStage::output)
            && feeds::holds_offsets(out)
            && !feeds.iter().any(|f| f.table == out.table)
        {
            feeds.push(out.clone());
        }
    }
    if feeds.is_empty() {
        return Err(job_err(&stmt, feeds::nothing_holds_offsets(&source.name)));
    }
    let topic = source.address.topic.clone();
    let mut stored = Vec::with_capacity(feeds.len());
    for out in &feeds {
        stored.push(
            feeds::stored(out, &source.consumer, &topic, &source.partitions)
                .await
                .map_err(|e| job_err(&stmt, e))?,
        );
    }
    source.stored = feeds
        .iter()
        .zip(&stored)
        .map(|(f, s)| (f.table.clone(), s.clone().unwrap_or_default()))
        .collect();
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
    Ok(LogicalPlanBuilder::scan(source.name.as_str(), provider_as_source(Arc::new(table)), None)?.build()?)
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
