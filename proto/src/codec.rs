//! Logical and physical extension codecs: how Strata's table providers and plan nodes cross the wire between the
//! client, the scheduler and the executors. Everything Strata does not know itself falls through to Ballista's
//! codecs (shuffle readers and writers, file formats), so one codec pair serves every process.
//!
//! Strata's payloads start with a magic prefix so they are never confused with Ballista's bytes.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;
use strata_connectors::delta::files::{DataFile, DeltaFiles};
use strata_connectors::delta::write_exec::{DeltaWriteExec, DeltaWriteNode, WriteTarget};
use strata_connectors::kafka::scan::{KafkaScan, KafkaScanExec, KafkaTable, PartitionRange};
use strata_connectors::kafka::{KafkaOptions, TopicAddress};
use strata_connectors::metered::{MeteredScanExec, MeteredTable, Reader};
use strata_connectors::postgres::filters::Predicate;
use strata_connectors::postgres::scan::{PgScanExec, PgSource, PgTable};
use strata_connectors::stage::StageTable;
use url::Url;

const MAGIC: &[u8] = b"STRATA\x01";
/// Kafka scans carry their own prefix: they share the provider and physical-plan slots with Delta payloads.
const MAGIC_KAFKA: &[u8] = b"STRATA\x02";

/// PostgreSQL tables and scans: JSON (address, table, columns, credential *sources*: never a password).
const MAGIC_POSTGRES: &[u8] = b"STRATA\x03";

/// Metered sources and scans: the reader (job and table names) as JSON, then the wrapped table's own payload (a
/// scan's input is its plan child).
const MAGIC_METERED: &[u8] = b"STRATA\x04";

/// `reader`'s JSON after the prefix, its length first (the wrapped payload follows it).
fn encode_reader(reader: &Reader, buf: &mut Vec<u8>) -> Result<()> {
    let json = serde_json::to_vec(reader).map_err(external)?;
    buf.extend_from_slice(MAGIC_METERED);
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
    Ok(())
}

/// The reader and what follows it, from a payload after [`MAGIC_METERED`].
fn decode_reader(payload: &[u8]) -> Result<(Reader, &[u8])> {
    let bad = || DataFusionError::Internal("a metered table's payload is truncated".into());
    let len = payload.get(..4).ok_or_else(bad)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let json = payload.get(4..4 + len).ok_or_else(bad)?;
    let reader: Reader = serde_json::from_slice(json).map_err(external)?;
    Ok((reader, &payload[4 + len..]))
}

/// A table provider from one of Strata's own payloads: Delta files, a Kafka scan or a PostgreSQL table.
fn decode_provider(buf: &[u8], table_ref: &TableReference) -> Result<Arc<dyn TableProvider>> {
    if let Some(payload) = buf.strip_prefix(MAGIC_KAFKA) {
        return Ok(Arc::new(KafkaTable::new(decode_kafka(payload)?.0)));
    }
    if let Some(payload) = buf.strip_prefix(MAGIC_POSTGRES) {
        let source: PgSource = serde_json::from_slice(payload).map_err(external)?;
        return Ok(Arc::new(PgTable::new(source)));
    }
    let payload = buf
        .strip_prefix(MAGIC)
        .ok_or_else(|| DataFusionError::NotImplemented(format!("table '{table_ref}' cannot be read on a cluster")))?;
    Ok(Arc::new(decode_files(payload)?))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PgScanJson {
    source: PgSource,
    projection: Option<Vec<usize>>,
    ranges: Vec<Predicate>,
    limit: Option<usize>,
}

fn encode_json(value: &impl serde::Serialize, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(MAGIC_POSTGRES);
    serde_json::to_writer(buf, value).map_err(external)
}

/// A bounded Kafka read on the wire: the declared schema, and the address, options and ranges as JSON.
#[derive(Clone, PartialEq, prost::Message)]
struct KafkaProto {
    #[prost(message, optional, tag = "1")]
    declared: Option<datafusion_proto::protobuf::Schema>,
    #[prost(string, tag = "2")]
    scan_json: String,
    #[prost(uint64, repeated, tag = "3")]
    projection: Vec<u64>,
    #[prost(bool, tag = "4")]
    projected: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KafkaScanJson {
    address: TopicAddress,
    options: KafkaOptions,
    ranges: Vec<PartitionRange>,
    #[serde(default)]
    single_task: bool,
}

fn encode_kafka(scan: &KafkaScan, projection: Option<&Vec<usize>>, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(MAGIC_KAFKA);
    let json = KafkaScanJson {
        address: scan.address.clone(),
        options: scan.options.clone(),
        ranges: scan.ranges.clone(),
        single_task: scan.single_task,
    };
    KafkaProto {
        declared: Some(schema_to_proto(&scan.declared)?),
        scan_json: serde_json::to_string(&json).map_err(external)?,
        projection: projection
            .map(|p| p.iter().map(|&i| i as u64).collect())
            .unwrap_or_default(),
        projected: projection.is_some(),
    }
    .encode(buf)
    .map_err(external)
}

fn decode_kafka(buf: &[u8]) -> Result<(KafkaScan, Option<Vec<usize>>)> {
    let proto = KafkaProto::decode(buf).map_err(external)?;
    let json: KafkaScanJson = serde_json::from_str(&proto.scan_json).map_err(external)?;
    let scan = KafkaScan {
        address: json.address,
        declared: schema_from_proto(proto.declared.as_ref())?,
        options: json.options,
        ranges: json.ranges,
        single_task: json.single_task,
    };
    let projection = proto
        .projected
        .then(|| proto.projection.iter().map(|&i| i as usize).collect());
    Ok((scan, projection))
}

/// A write target on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct TargetProto {
    #[prost(string, tag = "1")]
    table_url: String,
    #[prost(message, optional, tag = "2")]
    table_schema: Option<datafusion_proto::protobuf::Schema>,
    #[prost(string, repeated, tag = "3")]
    partition_columns: Vec<String>,
}

/// Pinned Delta files on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct FilesProto {
    #[prost(string, tag = "1")]
    table_url: String,
    #[prost(message, optional, tag = "2")]
    schema: Option<datafusion_proto::protobuf::Schema>,
    #[prost(string, repeated, tag = "3")]
    partition_columns: Vec<String>,
    /// `DataFile`s as JSON (paths, sizes, partition values).
    #[prost(string, tag = "4")]
    files_json: String,
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn schema_to_proto(schema: &Schema) -> Result<datafusion_proto::protobuf::Schema> {
    datafusion_proto::protobuf::Schema::try_from(schema).map_err(external)
}

fn schema_from_proto(schema: Option<&datafusion_proto::protobuf::Schema>) -> Result<SchemaRef> {
    let schema = schema.ok_or_else(|| DataFusionError::Internal("Strata codec: schema missing".into()))?;
    Ok(Arc::new(Schema::try_from(schema).map_err(external)?))
}

fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url).map_err(external)
}

fn encode_target(target: &WriteTarget, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(MAGIC);
    TargetProto {
        table_url: target.table_url.to_string(),
        table_schema: Some(schema_to_proto(&target.table_schema)?),
        partition_columns: target.partition_columns.clone(),
    }
    .encode(buf)
    .map_err(external)
}

fn decode_target(buf: &[u8]) -> Result<WriteTarget> {
    let proto = TargetProto::decode(buf).map_err(external)?;
    Ok(WriteTarget {
        table_url: parse_url(&proto.table_url)?,
        table_schema: schema_from_proto(proto.table_schema.as_ref())?,
        partition_columns: proto.partition_columns,
    })
}

fn encode_files(files: &DeltaFiles, buf: &mut Vec<u8>) -> Result<()> {
    buf.extend_from_slice(MAGIC);
    FilesProto {
        table_url: files.table_url.to_string(),
        schema: Some(schema_to_proto(&files.schema)?),
        partition_columns: files.partition_columns.clone(),
        files_json: serde_json::to_string(&files.files).map_err(external)?,
    }
    .encode(buf)
    .map_err(external)
}

fn decode_files(buf: &[u8]) -> Result<DeltaFiles> {
    let proto = FilesProto::decode(buf).map_err(external)?;
    let files: Vec<DataFile> = serde_json::from_str(&proto.files_json).map_err(external)?;
    Ok(DeltaFiles {
        table_url: parse_url(&proto.table_url)?,
        schema: schema_from_proto(proto.schema.as_ref())?,
        partition_columns: proto.partition_columns,
        files,
    })
}

/// Strata's logical codec (table providers and the Delta write node), Ballista's for the rest.
#[derive(Debug, Default)]
pub struct StrataLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for StrataLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        match buf.strip_prefix(MAGIC) {
            Some(payload) => {
                let [input] = inputs else {
                    return Err(DataFusionError::Internal("DeltaWrite needs one input".into()));
                };
                let node = DeltaWriteNode::new(input.clone(), decode_target(payload)?)?;
                Ok(Extension { node: Arc::new(node) })
            }
            None => self.inner.try_decode(buf, inputs, ctx),
        }
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        match node.node.as_any().downcast_ref::<DeltaWriteNode>() {
            Some(write) => encode_target(&write.target, buf),
            None => self.inner.try_encode(node, buf),
        }
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        _schema: SchemaRef,
        _ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        // A metered table's payload wraps the table's own (never another metered one).
        let (reader, buf) = match buf.strip_prefix(MAGIC_METERED) {
            Some(payload) => {
                let (reader, inner) = decode_reader(payload)?;
                (Some(reader), inner)
            }
            None => (None, buf),
        };
        let provider = decode_provider(buf, table_ref)?;
        Ok(match reader {
            Some(reader) => Arc::new(MeteredTable::new(provider, reader)),
            None => provider,
        })
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(metered) = node.downcast_ref::<MeteredTable>() {
            encode_reader(&metered.reader, buf)?;
            return self.try_encode_table_provider(table_ref, metered.inner.clone(), buf);
        }
        if let Some(files) = node.downcast_ref::<DeltaFiles>() {
            return encode_files(files, buf);
        }
        if let Some(kafka) = node.downcast_ref::<KafkaTable>() {
            return encode_kafka(&kafka.scan, None, buf);
        }
        if let Some(pg) = node.downcast_ref::<PgTable>() {
            return encode_json(&pg.source, buf);
        }
        if let Some(stage) = node.downcast_ref::<StageTable>() {
            let files = stage.files()?.ok_or_else(|| {
                DataFusionError::Internal(format!("stage table '{table_ref}' was read before it was written"))
            })?;
            return encode_files(&files, buf);
        }
        Err(DataFusionError::NotImplemented(format!(
            "table '{table_ref}' cannot be read on a cluster (its provider has no codec)"
        )))
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// Strata's physical codec (the Delta write operator), Ballista's for the rest.
#[derive(Debug, Default)]
pub struct StrataPhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for StrataPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(payload) = buf.strip_prefix(MAGIC_METERED) {
            let (reader, _) = decode_reader(payload)?;
            let [input] = inputs else {
                return Err(DataFusionError::Internal("MeteredScanExec needs one input".into()));
            };
            return Ok(Arc::new(MeteredScanExec::new(input.clone(), reader)));
        }
        if let Some(payload) = buf.strip_prefix(MAGIC_KAFKA) {
            let (scan, projection) = decode_kafka(payload)?;
            return Ok(Arc::new(KafkaScanExec::new(scan, projection)?));
        }
        if let Some(payload) = buf.strip_prefix(MAGIC_POSTGRES) {
            let scan: PgScanJson = serde_json::from_slice(payload).map_err(external)?;
            return Ok(Arc::new(PgScanExec::new(
                scan.source,
                scan.projection,
                scan.ranges,
                scan.limit,
            )?));
        }
        match buf.strip_prefix(MAGIC) {
            Some(payload) => {
                let [input] = inputs else {
                    return Err(DataFusionError::Internal("DeltaWriteExec needs one input".into()));
                };
                Ok(Arc::new(DeltaWriteExec::new(input.clone(), decode_target(payload)?)))
            }
            None => self.inner.try_decode(buf, inputs, ctx, converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(metered) = node.downcast_ref::<MeteredScanExec>() {
            return encode_reader(metered.reader(), buf);
        }
        if let Some(kafka) = node.downcast_ref::<KafkaScanExec>() {
            return encode_kafka(&kafka.scan, kafka.projection.as_ref(), buf);
        }
        if let Some(pg) = node.downcast_ref::<PgScanExec>() {
            let scan = PgScanJson {
                source: pg.source.clone(),
                projection: pg.projection.clone(),
                ranges: pg.ranges.clone(),
                limit: pg.limit,
            };
            return encode_json(&scan, buf);
        }
        match node.downcast_ref::<DeltaWriteExec>() {
            Some(write) => encode_target(write.target(), buf),
            None => self.inner.try_encode(node, buf, converter),
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
