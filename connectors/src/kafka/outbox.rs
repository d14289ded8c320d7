//! Exactly once into a topic, without Kafka transactions: a transactional outbox.
//!
//! A Kafka sink fed by a Kafka source does not produce its rows directly. It first appends them, encoded and each
//! with its target partition and a sequence number per partition, to its *outbox*, a Delta table in the warehouse,
//! in one commit that also stores the source's offsets (as every Delta sink does) and the next sequence numbers.
//! Then it *publishes* the outbox: per partition, the messages after the last one already in the topic, in
//! sequence order, each with two headers (`strata-outbox`: the outbox's id and incarnation, `strata-seq`: its
//! number).
//!
//! Why that is exactly once:
//!
//! * the outbox commit is atomic with the source offsets: a run that dies before it leaves nothing for the range,
//!   a run that dies after it never gives the sink that range again (the source's offsets say so);
//! * publishing is idempotent: what is already in the topic is found by reading the partition from the offset where
//!   the last finished publish began to send (a bounded tail) and taking the end of the unbroken run of this
//!   outbox's `strata-seq` numbers after the last published one. The producer is idempotent with one request in
//!   flight, so a partition holds a prefix of what was sent: everything after that end is sent, nothing before it
//!   again. (Only a publish that failed — a delivery timed out while later ones went through — could leave a gap;
//!   the next publish then resends from the gap, so nothing is lost, and messages after the gap come twice.)
//! * every run publishes what is pending before its own commits, so a run killed while publishing is finished by
//!   the next run, new messages or not.
//!
//! So a consumer of the topic — `read_committed` or not — reads each row once. Partitions are chosen when rows enter
//! the outbox (murmur2 of the key as Kafka's own clients do, rows without a key spread by sequence), so a republish
//! sends every message where it first went.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::prelude::{SessionContext, col, lit};
use deltalake::kernel::Transaction;
use futures::future::join_all;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use url::Url;

use super::sink::encode_rows;
use super::{KafkaOptions, TopicAddress, client_config};
use crate::delta::{self, WriteMode};
use crate::error::{ConnectorError, Result};

/// Header naming the outbox a message came from.
pub const OUTBOX_HEADER: &str = "strata-outbox";
/// Header holding the message's sequence number in its partition.
pub const SEQ_HEADER: &str = "strata-seq";
/// How long the tail scan may see no message before it gives up.
const IDLE: Duration = Duration::from_secs(30);

/// A Kafka sink's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    /// The Delta table holding it.
    pub url: Url,
    /// Names its messages in their headers (job and table: two jobs writing one topic keep two sequences).
    pub id: String,
    /// The topic's partitions.
    pub partitions: Vec<i32>,
}

/// The outbox's incarnation: a random number drawn when it is created, part of its messages' `strata-outbox` header,
/// so that a recreated outbox (its directory deleted, the warehouse reset) never mistakes the messages of the old
/// one for its own.
const INCARNATION_ID: &str = "strata-outbox/incarnation";

fn header_value(id: &str, incarnation: i64) -> String {
    format!("{id}#{incarnation}")
}

fn new_incarnation() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    // Positive, and different for two outboxes created in the same nanosecond by two processes.
    ((nanos as u64).rotate_left(17) ^ u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 1) as i64
}

fn next_seq_id(p: i32) -> String {
    format!("strata-outbox/next-seq/{p}")
}
fn published_seq_id(p: i32) -> String {
    format!("strata-outbox/published-seq/{p}")
}
fn published_offset_id(p: i32) -> String {
    format!("strata-outbox/published-offset/{p}")
}

/// The outbox table's columns.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("partition", DataType::Int32, false),
        Field::new("seq", DataType::Int64, false),
        Field::new("key", DataType::Binary, true),
        Field::new("value", DataType::Binary, false),
        Field::new("run_id", DataType::Utf8, false),
    ]))
}

/// Kafka's default partitioner hash (murmur2, as the Java client and librdkafka's `murmur2_random` compute it).
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The application transaction versions `ids` hold in the outbox table (absent: never set or no table).
async fn versions(url: &Url, ids: &[String]) -> Result<BTreeMap<String, i64>> {
    let table = match delta::open(url).await {
        Ok(t) => t,
        Err(ConnectorError::Missing { .. } | ConnectorError::NotDelta { .. }) => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let snapshot = table.snapshot().map_err(delta::delta_err(url))?;
    let log_store = table.log_store();
    let mut out = BTreeMap::new();
    for id in ids {
        if let Some(v) = snapshot
            .transaction_version(log_store.as_ref(), id.clone())
            .await
            .map_err(delta::delta_err(url))?
        {
            out.insert(id.clone(), v);
        }
    }
    Ok(out)
}

/// Append the rows of `batches` (the sink table's rows) to the outbox, encoded, with their partitions and sequence
/// numbers, in one commit that also stores `transactions` (the source offsets). Returns how many rows went in.
pub async fn append(
    outbox: &Outbox,
    options: &KafkaOptions,
    declared: &Schema,
    batches: &[RecordBatch],
    run_id: &str,
    mut transactions: Vec<Transaction>,
) -> Result<u64> {
    let mut ids: Vec<String> = outbox.partitions.iter().map(|&p| next_seq_id(p)).collect();
    ids.push(INCARNATION_ID.to_string());
    let stored = versions(&outbox.url, &ids).await?;
    let incarnation = stored.get(INCARNATION_ID).copied();
    let mut next: BTreeMap<i32, i64> = outbox
        .partitions
        .iter()
        .map(|&p| (p, stored.get(&next_seq_id(p)).copied().unwrap_or(0)))
        .collect();
    let count = outbox.partitions.len().max(1) as i64;
    let mut out = Vec::new();
    let mut spread: i64 = next.values().sum();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let values = encode_rows(batch, options, declared)?;
        let keys: Option<StringArray> = match &options.key_column {
            Some(column) => {
                let index = batch
                    .schema()
                    .index_of(column)
                    .map_err(datafusion::error::DataFusionError::from)?;
                let keys =
                    cast(batch.column(index), &DataType::Utf8).map_err(datafusion::error::DataFusionError::from)?;
                Some(keys.as_string::<i32>().clone())
            }
            None => None,
        };
        let (mut partitions, mut seqs, mut key_col, mut value_col) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (row, value) in values.into_iter().enumerate() {
            let key = keys
                .as_ref()
                .filter(|k| k.is_valid(row))
                .map(|k| k.value(row).as_bytes().to_vec());
            let slot = match &key {
                Some(k) => (i64::from(murmur2(k) & 0x7fff_ffff)) % count,
                None => {
                    spread += 1;
                    spread % count
                }
            };
            let p = outbox.partitions[slot as usize];
            let seq = next.get_mut(&p).map(|n| {
                *n += 1;
                *n - 1
            });
            partitions.push(p);
            seqs.push(seq.unwrap_or(0));
            key_col.push(key);
            value_col.push(value);
        }
        let rows = partitions.len();
        out.push(
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(Int32Array::from(partitions)),
                    Arc::new(Int64Array::from(seqs)),
                    Arc::new(BinaryArray::from_iter(key_col.iter().map(|k| k.as_deref()))),
                    Arc::new(BinaryArray::from_iter_values(value_col.iter())),
                    Arc::new(StringArray::from(vec![run_id; rows])),
                ],
            )
            .map_err(datafusion::error::DataFusionError::from)?,
        );
    }
    let rows = out.iter().map(|b| b.num_rows() as u64).sum();
    let now = chrono::Utc::now().timestamp_millis();
    transactions.extend(
        next.iter()
            .map(|(&p, &n)| Transaction::new_with_last_update(next_seq_id(p), n, Some(now))),
    );
    if incarnation.is_none() {
        transactions.push(Transaction::new_with_last_update(
            INCARNATION_ID,
            new_incarnation(),
            Some(now),
        ));
    }
    delta::write_with_transactions(&outbox.url, schema(), out, &[], WriteMode::Append, transactions).await?;
    Ok(rows)
}

/// Send everything in the outbox that is not in the topic yet, in order; then record how far the topic holds it.
/// Returns the messages sent.
pub async fn publish(outbox: &Outbox, address: &TopicAddress, options: &KafkaOptions) -> Result<u64> {
    let mut ids = vec![INCARNATION_ID.to_string()];
    for &p in &outbox.partitions {
        ids.extend([next_seq_id(p), published_seq_id(p), published_offset_id(p)]);
    }
    let stored = versions(&outbox.url, &ids).await?;
    let Some(&incarnation) = stored.get(INCARNATION_ID) else {
        return Ok(0); // no outbox yet: nothing was ever appended
    };
    let header = header_value(&outbox.id, incarnation);
    let pending: Vec<(i32, i64, i64)> = outbox
        .partitions
        .iter()
        .filter_map(|&p| {
            let next = stored.get(&next_seq_id(p)).copied().unwrap_or(0);
            let published = stored.get(&published_seq_id(p)).copied().unwrap_or(-1);
            let from = stored.get(&published_offset_id(p)).copied().unwrap_or(0);
            (next - 1 > published).then_some((p, published, from))
        })
        .collect();
    if pending.is_empty() {
        return Ok(0);
    }
    // What each pending partition already holds, from where the last finished publish left it.
    let (found, highs) = {
        let (address, options, header, pending) = (address.clone(), options.clone(), header.clone(), pending.clone());
        tokio::task::spawn_blocking(move || tail_seqs(&address, &options, &header, &pending))
            .await
            .map_err(|e| ConnectorError::from(datafusion::error::DataFusionError::External(Box::new(e))))??
    };
    let table = delta::open(&outbox.url).await?;
    let ctx = SessionContext::new();
    let provider = delta::provider(&table, &ctx.state()).await?;
    let mut config = client_config(&address.brokers, &options.client);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5");
    let producer: FutureProducer = config.create().map_err(address.kafka_err(None))?;
    let produce_err = |step: &'static str| {
        let (topic, brokers) = (address.topic.clone(), address.brokers.clone());
        move |source: KafkaError| ConnectorError::KafkaProduce {
            topic,
            brokers,
            step,
            source: Box::new(source),
        }
    };
    let mut sent = 0u64;
    for &(p, _, _) in &pending {
        let after = found.get(&p).copied().unwrap_or(-1);
        let rows = ctx
            .read_table(provider.clone())?
            .filter(col("partition").eq(lit(p)).and(col("seq").gt(lit(after))))?
            .sort(vec![col("seq").sort(true, false)])?
            .collect()
            .await?;
        for batch in &rows {
            // Delta hands binary columns back as views or large binaries: one type to read them as.
            let arrow = datafusion::error::DataFusionError::from;
            let seqs = cast(batch.column(1), &DataType::Int64).map_err(arrow)?;
            let seqs = seqs.as_primitive::<Int64Type>();
            let keys = cast(batch.column(2), &DataType::Binary).map_err(arrow)?;
            let keys = keys.as_binary::<i32>();
            let values = cast(batch.column(3), &DataType::Binary).map_err(arrow)?;
            let values = values.as_binary::<i32>();
            let sends = (0..batch.num_rows()).map(|r| {
                let seq = seqs.value(r).to_string();
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: OUTBOX_HEADER,
                        value: Some(header.as_str()),
                    })
                    .insert(Header {
                        key: SEQ_HEADER,
                        value: Some(seq.as_str()),
                    });
                let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&address.topic)
                    .partition(p)
                    .payload(values.value(r))
                    .headers(headers);
                if keys.is_valid(r) {
                    record = record.key(keys.value(r));
                }
                producer.send(record, Duration::from_secs(60))
            });
            for result in join_all(sends).await {
                result.map_err(|(e, _)| produce_err("delivery")(e))?;
            }
            sent += batch.num_rows() as u64;
        }
    }
    // The next publish reads the tail from where this one started to send: a record-batch boundary (the end of the
    // partition when the scan above reached it), so even a broker that cannot start a fetch inside a batch shows
    // it every message sent here.
    let now = chrono::Utc::now().timestamp_millis();
    let mut transactions = Vec::new();
    for &(p, _, _) in &pending {
        let next = stored.get(&next_seq_id(p)).copied().unwrap_or(0);
        let high = highs.get(&p).copied().unwrap_or(from_of(&pending, p));
        transactions.push(Transaction::new_with_last_update(
            published_seq_id(p),
            next - 1,
            Some(now),
        ));
        transactions.push(Transaction::new_with_last_update(
            published_offset_id(p),
            high,
            Some(now),
        ));
    }
    // Dropping a producer flushes and tears down librdkafka: blocking work.
    let _ = tokio::task::spawn_blocking(move || drop(producer)).await;
    delta::write_with_transactions(&outbox.url, schema(), Vec::new(), &[], WriteMode::Append, transactions).await?;
    tracing::info!(topic = %address.topic, outbox = %outbox.id, sent, "outbox published");
    Ok(sent)
}

fn from_of(pending: &[(i32, i64, i64)], partition: i32) -> i64 {
    pending
        .iter()
        .find(|(p, _, _)| *p == partition)
        .map_or(0, |(_, _, from)| *from)
}

/// For each pending `(partition, published seq, from offset)`: the end of the unbroken run of sequence numbers after
/// the published one among the messages that carry the `strata-outbox` value `header`, in the partition from that
/// offset on; and the end of the partition (the offset after the last message read; absent when none was).
#[allow(clippy::type_complexity)]
fn tail_seqs(
    address: &TopicAddress,
    options: &KafkaOptions,
    header: &str,
    pending: &[(i32, i64, i64)],
) -> Result<(BTreeMap<i32, i64>, BTreeMap<i32, i64>)> {
    let consumer: BaseConsumer = client_config(&address.brokers, &options.client)
        .set("group.id", "strata-outbox-scan")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        // A recorded offset retention has deleted: read from the first one left.
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(address.kafka_err(None))?;
    let mut found = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for &(p, published, from) in pending {
        found.insert(p, published);
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&address.topic, p, Offset::Offset(from))
            .map_err(address.kafka_err(Some(p)))?;
        consumer.assign(&list).map_err(address.kafka_err(Some(p)))?;
        let mut last_message = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(200)) {
                // Events of an earlier assignment are not this partition's.
                Some(Ok(m)) if m.partition() != p => {}
                Some(Err(KafkaError::PartitionEOF(other))) if other != p => {}
                Some(Ok(m)) => {
                    last_message = Instant::now();
                    ends.insert(p, m.offset() + 1);
                    let Some(headers) = m.headers() else { continue };
                    let ours = headers
                        .iter()
                        .any(|h| h.key == OUTBOX_HEADER && h.value == Some(header.as_bytes()));
                    let seq = headers
                        .iter()
                        .find(|h| h.key == SEQ_HEADER)
                        .and_then(|h| std::str::from_utf8(h.value?).ok()?.parse::<i64>().ok());
                    // The unbroken run after what was published: a message one past its end extends it.
                    if let (true, Some(seq)) = (ours, seq) {
                        let at = found.entry(p).or_insert(published);
                        if seq == *at + 1 {
                            *at = seq;
                        }
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => return Err(address.kafka_err(Some(p))(e)),
                None if last_message.elapsed() > IDLE => {
                    return Err(ConnectorError::KafkaIdle {
                        topic: address.topic.clone(),
                        brokers: address.brokers.clone(),
                        partition: p,
                        seconds: IDLE.as_secs(),
                        offset: ends.get(&p).copied().unwrap_or(from),
                    });
                }
                None => {}
            }
        }
    }
    Ok((found, ends))
}

/// The next sequence numbers stored per partition (for tests and reports).
pub async fn next_seqs(outbox: &Outbox) -> Result<BTreeMap<i32, i64>> {
    let ids: Vec<String> = outbox.partitions.iter().map(|&p| next_seq_id(p)).collect();
    let stored = versions(&outbox.url, &ids).await?;
    Ok(outbox
        .partitions
        .iter()
        .map(|&p| (p, stored.get(&next_seq_id(p)).copied().unwrap_or(0)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's own UtilsTest.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn the_outbox_table_names_its_columns() {
        let s = schema();
        let names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["partition", "seq", "key", "value", "run_id"]);
    }
}
