//! The bounded read of a topic: [`KafkaTable`] for planning, [`KafkaScanExec`] with one partition per Kafka
//! partition, each reading its range on a blocking thread with its own consumer (no group membership, no offset
//! commits: offsets belong to the Delta commit).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::project_schema;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::decode::{MessageDecoder, RawMessage};
use super::{KafkaOptions, TopicAddress, client_config, staged_schema};
use crate::error::ConnectorError;

/// How many messages are decoded into one batch.
const BATCH_MESSAGES: usize = 8192;
/// A partition that yields neither a message nor its end for this long fails the scan.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// librdkafka's error events through `tracing`. Reaching a partition's end is how every read here finishes, so it
/// is not logged as an error (the default context logs it as one).
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanContext;

impl ClientContext for ScanContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(&error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF);
        if eof {
            tracing::debug!(%error, reason, "librdkafka");
        } else {
            tracing::error!(%error, reason, "librdkafka");
        }
    }
}

impl ConsumerContext for ScanContext {}

/// What one scan partition reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRange {
    /// The Kafka partition.
    pub partition: i32,
    /// First offset to read.
    pub start: i64,
    /// Never read at or past this offset (a recovery run's end, or the per-run cap).
    pub stop: Option<i64>,
    /// The high watermark the broker reported at planning time. The read also stops at the end the first fetch
    /// reports, which is right even where a broker's offset lookup lags behind its log.
    pub planned_high: i64,
}

/// A bounded read of one topic: which partitions, from where, decoded how.
#[derive(Debug, Clone)]
pub struct KafkaScan {
    /// The topic read.
    pub address: TopicAddress,
    /// The columns the table declares.
    pub declared: SchemaRef,
    /// The table's options: format, decoding, client settings.
    pub options: KafkaOptions,
    /// One range per Kafka partition read.
    pub ranges: Vec<PartitionRange>,
    /// Expose one plan partition that reads every Kafka partition concurrently. Ballista 55 gives a task several
    /// partitions of a stage and narrows only the leaves it knows (file and memory scans); a leaf it does not
    /// know is read whole by every task, so on a cluster the scan must be a single task.
    pub single_task: bool,
}

impl KafkaScan {
    /// A decoder of this read's messages into staged rows.
    pub fn decoder(&self) -> MessageDecoder {
        MessageDecoder::new(&self.declared, &self.options)
    }
}

/// The provider a job's source stage scans. Its schema is the staged schema (declared columns and Kafka's own).
#[derive(Debug)]
pub struct KafkaTable {
    /// The read this table's scans perform.
    pub scan: KafkaScan,
    schema: SchemaRef,
}

impl KafkaTable {
    /// A provider whose scans perform `scan`.
    pub fn new(scan: KafkaScan) -> Self {
        let schema = staged_schema(&scan.declared);
        Self { scan, schema }
    }
}

#[async_trait]
impl TableProvider for KafkaTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(KafkaScanExec::new(self.scan.clone(), projection.cloned())?))
    }
}

/// Reads each assigned range of a topic; partition `i` of the plan is `ranges[i]`.
#[derive(Debug)]
pub struct KafkaScanExec {
    /// The read.
    pub scan: KafkaScan,
    /// Indices into the staged schema of the columns produced; `None` for all of them.
    pub projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl KafkaScanExec {
    /// A plan performing `scan` and producing the `projection` of its staged schema (an index out of range fails).
    pub fn new(scan: KafkaScan, projection: Option<Vec<usize>>) -> Result<Self> {
        let schema = project_schema(&staged_schema(&scan.declared), projection.as_ref())?;
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(if scan.single_task { 1 } else { scan.ranges.len().max(1) }),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(Self {
            scan,
            projection,
            schema,
            properties,
        })
    }
}

impl DisplayAs for KafkaScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let ranges: Vec<String> = self
            .scan
            .ranges
            .iter()
            .map(|r| format!("{}@{}", r.partition, r.start))
            .collect();
        write!(
            f,
            "KafkaScanExec: topic={}, format={}, from=[{}]",
            self.scan.address.topic,
            self.scan.options.format.name(),
            ranges.join(", ")
        )
    }
}

impl ExecutionPlan for KafkaScanExec {
    fn name(&self) -> &str {
        "KafkaScanExec"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("KafkaScanExec has no children".into()))
        }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let mut builder = RecordBatchReceiverStream::builder(self.schema.clone(), 2);
        let ranges: Vec<PartitionRange> = if self.scan.single_task {
            self.scan.ranges.clone()
        } else {
            // A topic with no partitions still has one (empty) plan partition.
            self.scan.ranges.get(partition).cloned().into_iter().collect()
        };
        for range in ranges {
            tracing::debug!(topic = %self.scan.address.topic, partition = range.partition, start = range.start, "reading a Kafka partition");
            let tx = builder.tx();
            let scan = self.scan.clone();
            let projection = self.projection.clone();
            builder.spawn_blocking(move || {
                let decoder = scan.decoder();
                read_range(&scan, &range, |messages| {
                    for batch in decoder.decode(messages)? {
                        let batch = match &projection {
                            Some(p) => batch.project(p)?,
                            None => batch,
                        };
                        if tx.blocking_send(Ok(batch)).is_err() {
                            // The consumer of the stream went away (the query was cancelled).
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })
            });
        }
        Ok(builder.build())
    }
}

/// librdkafka's error while reading `partition`, for the scan's stream.
fn kafka_error(scan: &KafkaScan, partition: i32) -> impl FnOnce(KafkaError) -> DataFusionError {
    let wrap = scan.address.kafka_err(Some(partition));
    move |e| DataFusionError::from(wrap(e))
}

/// Read `range`, handing full buffers of messages to `emit` (which returns false to stop early).
fn read_range(
    scan: &KafkaScan,
    range: &PartitionRange,
    mut emit: impl FnMut(&[RawMessage]) -> Result<bool>,
) -> Result<()> {
    let p = range.partition;
    if range.stop.is_some_and(|stop| range.start >= stop) {
        return Ok(());
    }
    let group = scan.options.consumer.clone().unwrap_or_else(|| "strata-scan".into());
    let mut config = client_config(&scan.address.brokers, &scan.options.client);
    config
        // assign() needs a group id; nothing is committed to it (offsets live in Delta).
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        // A start before the log's beginning (retention) is an error, not a silent jump.
        .set("auto.offset.reset", "error");
    let consumer: BaseConsumer<ScanContext> = config.create_with_context(ScanContext).map_err(kafka_error(scan, p))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&scan.address.topic, p, Offset::Offset(range.start))
        .map_err(kafka_error(scan, p))?;
    consumer.assign(&assignment).map_err(kafka_error(scan, p))?;

    let mut end: Option<i64> = None;
    let mut buffer: Vec<RawMessage> = Vec::with_capacity(BATCH_MESSAGES);
    let mut last_progress = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(200)) {
            None => {
                if last_progress.elapsed() > IDLE_TIMEOUT {
                    return Err(DataFusionError::from(ConnectorError::KafkaIdle {
                        topic: scan.address.topic.clone(),
                        brokers: scan.address.brokers.clone(),
                        partition: p,
                        seconds: IDLE_TIMEOUT.as_secs(),
                        offset: buffer.last().map(|m| m.offset + 1).unwrap_or(range.start),
                    }));
                }
            }
            Some(Ok(m)) => {
                last_progress = Instant::now();
                let bound = *end.get_or_insert_with(|| bound(&consumer, scan, range));
                let offset = m.offset();
                if offset >= bound {
                    break;
                }
                buffer.push(RawMessage {
                    partition: p,
                    offset,
                    timestamp: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                });
                if buffer.len() >= BATCH_MESSAGES {
                    if !emit(&buffer)? {
                        return Ok(());
                    }
                    buffer.clear();
                }
                if offset + 1 >= bound {
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => break,
            Some(Err(e)) => return Err(kafka_error(scan, p)(e)),
        }
    }
    if !buffer.is_empty() {
        emit(&buffer)?;
    }
    Ok(())
}

/// Where this read ends: the stop, or else the larger of the planned high watermark and the one the first fetch
/// reported (the broker's log end when the read started).
fn bound(consumer: &BaseConsumer<ScanContext>, scan: &KafkaScan, range: &PartitionRange) -> i64 {
    let fetched = fetched_high_watermark(consumer, &scan.address.topic, range.partition).unwrap_or(-1);
    let high = range.planned_high.max(fetched);
    let high = if high > range.start { high } else { i64::MAX };
    range.stop.map_or(high, |stop| stop.min(high))
}

/// The high watermark of the last fetch response (librdkafka's cached value), which is exact even where a broker's
/// offset lookup is not. The safe API has no wrapper for it.
fn fetched_high_watermark(consumer: &BaseConsumer<ScanContext>, topic: &str, partition: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the topic is a NUL-terminated string that
    // outlives the call; librdkafka only writes the two out-parameters.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
