//! The run-time half of a Kafka source: once its messages are staged, work out the next offsets actually reached
//! (from the rows, never from the broker's watermark), the dead letters not yet stored, and afterwards the lag.

use std::collections::BTreeMap;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Int32Type, Int64Type};
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{count, max};
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use strata_connectors::kafka::{self, TopicClient, offsets};

use super::{KafkaSource, dead_letter_schema};
use crate::report::{PartitionReport, SourceReport};

/// What one source's staged messages amount to.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Next offset per partition that this run read from.
    pub next: BTreeMap<i32, i64>,
    pub messages: u64,
    pub malformed: u64,
    /// Dead-letter rows not already in the dead-letter table.
    pub dead_letters: Vec<RecordBatch>,
}

impl Progress {
    pub fn transactions(&self, source: &KafkaSource) -> Vec<Transaction> {
        offsets::transactions(&source.consumer, &source.address.topic, &self.next)
    }
}

/// Summarize a source's staged messages (on whatever engine `ctx` runs).
pub async fn progress(ctx: &SessionContext, source: &KafkaSource) -> Result<Progress> {
    let staged = ctx.read_table(source.staged.clone())?;
    let stats = staged
        .clone()
        .aggregate(
            vec![col(kafka::PARTITION_COLUMN)],
            vec![
                max(col(kafka::OFFSET_COLUMN)).alias("last"),
                count(lit(1)).alias("messages"),
                count(col(kafka::ERROR_COLUMN)).alias("malformed"),
            ],
        )?
        .collect()
        .await?;
    let mut next = BTreeMap::new();
    let (mut messages, mut malformed) = (0u64, 0u64);
    for b in &stats {
        let partitions = b.column(0).as_primitive::<Int32Type>();
        let last = b.column(1).as_primitive::<Int64Type>();
        let counts = b.column(2).as_primitive::<Int64Type>();
        let bad = b.column(3).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            next.insert(partitions.value(r), last.value(r) + 1);
            messages += counts.value(r) as u64;
            malformed += bad.value(r) as u64;
        }
    }
    if source.recovery {
        // A replayed range ends where the tables that committed it ended, whatever gaps it has at the tail.
        for range in &source.ranges {
            if let Some(stop) = range.stop.filter(|&s| s > range.start) {
                let at = next.entry(range.partition).or_insert(stop);
                *at = (*at).max(stop);
            }
        }
    }

    if source.options.starting != kafka::StartingPoint::Earliest {
        // A first run that starts at `latest` or at a time pins that position even when it reads nothing;
        // otherwise every later run would start from `latest` again and skip what arrived in between.
        for range in source.ranges.iter().filter(|r| source.unread.contains(&r.partition)) {
            next.entry(range.partition).or_insert(range.start);
        }
    }

    let mut dead_letters = Vec::new();
    if malformed > 0 {
        let rows = staged
            .filter(col(kafka::ERROR_COLUMN).is_not_null())?
            .select(vec![
                lit(source.address.topic.as_str()).alias("topic"),
                col(kafka::PARTITION_COLUMN).alias("partition"),
                col(kafka::OFFSET_COLUMN).alias("offset"),
                col(kafka::TIMESTAMP_COLUMN).alias("timestamp"),
                col(kafka::KEY_COLUMN).alias("key"),
                col(kafka::VALUE_COLUMN).alias("value"),
                col(kafka::ERROR_COLUMN).alias("error"),
            ])?
            .collect()
            .await?;
        let schema = dead_letter_schema();
        for b in rows {
            // Skip what an interrupted run already stored in the dead-letter table.
            let partitions = b.column(1).as_primitive::<Int32Type>();
            let offs = b.column(2).as_primitive::<Int64Type>();
            let keep: BooleanArray = (0..b.num_rows())
                .map(|r| {
                    let stored = source.dead_letter.stored.get(&partitions.value(r)).copied().flatten();
                    Some(stored.is_none_or(|s| offs.value(r) >= s))
                })
                .collect();
            let kept = filter_record_batch(&b, &keep)?;
            if kept.num_rows() > 0 {
                dead_letters.push(RecordBatch::try_new(schema.clone(), kept.columns().to_vec())?);
            }
        }
    }
    Ok(Progress {
        next,
        messages,
        malformed,
        dead_letters,
    })
}

/// After the commit: record the offsets in the job's consumer group (for monitoring tools only; the Delta
/// transactions are what the next run reads) and measure the lag left behind.
pub async fn finish(source: &KafkaSource, progress: &Progress, dead_letter_written: bool) -> SourceReport {
    let positions: BTreeMap<i32, i64> = source
        .ranges
        .iter()
        .map(|r| (r.partition, progress.next.get(&r.partition).copied().unwrap_or(r.start)))
        .collect();
    let address = source.address.clone();
    let settings = source.options.client.clone();
    let group = source.consumer.clone();
    let committed = progress.next.clone();
    let lookup = positions.clone();
    let highs = tokio::task::spawn_blocking(move || {
        if !committed.is_empty() {
            commit_group_offsets(&address, &settings, &group, &committed);
        }
        let client = TopicClient::connect(&address, &settings).ok()?;
        let mut highs = BTreeMap::new();
        for &p in lookup.keys() {
            highs.insert(p, client.watermarks(p).ok()?.1);
        }
        Some(highs)
    })
    .await
    .ok()
    .flatten();
    let partitions: Vec<PartitionReport> = source
        .ranges
        .iter()
        .map(|r| {
            let next = positions[&r.partition];
            let high = highs.as_ref().and_then(|h| h.get(&r.partition).copied());
            PartitionReport {
                partition: r.partition,
                from: r.start,
                next,
                lag: high.map_or(0, |h| (h - next).max(0)),
            }
        })
        .collect();
    if highs.is_none() {
        tracing::warn!(topic = %source.address.topic, "could not read the high watermarks after the run; lag unknown");
    }
    SourceReport {
        table: source.name.clone(),
        topic: source.address.topic.clone(),
        messages: progress.messages,
        malformed: progress.malformed,
        dead_letter: dead_letter_written.then(|| source.dead_letter.table.clone()),
        recovery: source.recovery,
        lag: partitions.iter().map(|p| p.lag).sum(),
        partitions,
    }
}

fn commit_group_offsets(
    address: &kafka::TopicAddress,
    settings: &BTreeMap<String, String>,
    group: &str,
    next: &BTreeMap<i32, i64>,
) {
    let result = (|| -> Result<(), rdkafka::error::KafkaError> {
        let mut config = kafka::client_config(&address.brokers, settings);
        config.set("group.id", group).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create()?;
        let mut list = TopicPartitionList::new();
        for (&p, &o) in next {
            list.add_partition_offset(&address.topic, p, Offset::Offset(o))?;
        }
        consumer.commit(&list, CommitMode::Sync)
    })();
    if let Err(e) = result {
        tracing::warn!(topic = %address.topic, group, error = %e, "could not record offsets in the consumer group (monitoring only)");
    }
}
