//! A job's Kafka offsets live in the Delta tables it writes: each commit that carries rows read from a topic also
//! carries one transaction action per partition (`appId` = consumer/topic/partition, `version` = the next offset
//! to read), the way kafka-delta-ingest does it. The rows and the offsets are committed together or not at all.
//!
//! PostgreSQL sinks keep the same next offsets in a table of their own database, written in the transaction that
//! writes the rows (`crate::postgres::offsets`); [`TakenOffsets`] is what either kind of sink stores.
//!
//! A job may write several tables, committed one after the other. If a run dies between two of those commits,
//! the tables disagree; [`resume`] then plans a recovery read of exactly the range the laggards miss, and the
//! tables that already hold it skip their commit.

use std::collections::BTreeMap;

use deltalake::kernel::Transaction;
use url::Url;

use crate::delta;
use crate::error::{ConnectorError, Result};

/// The transaction app id of one partition of a topic read by `consumer`.
pub fn app_id(consumer: &str, topic: &str, partition: i32) -> String {
    format!("strata/{consumer}/{topic}/{partition}")
}

/// Next offsets stored in the table at `url`, per partition (`None`: never committed from this partition).
/// `Ok(None)` when there is no table yet.
pub async fn stored(
    url: &Url,
    consumer: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<Option<BTreeMap<i32, Option<i64>>>> {
    let table = match delta::open(url).await {
        Ok(t) => t,
        Err(ConnectorError::Missing { .. } | ConnectorError::NotDelta { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let snapshot = table.snapshot().map_err(delta::delta_err(url))?;
    let log_store = table.log_store();
    let mut out = BTreeMap::new();
    for &p in partitions {
        let version = snapshot
            .transaction_version(log_store.as_ref(), app_id(consumer, topic, p))
            .await
            .map_err(delta::delta_err(url))?;
        out.insert(p, version);
    }
    Ok(Some(out))
}

/// The offsets one sink's write takes from one source: stored atomically with the sink's rows (Delta transaction
/// actions, rows of a PostgreSQL sink's offsets table).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TakenOffsets {
    /// The source's consumer name.
    pub consumer: String,
    /// The source topic.
    pub topic: String,
    /// The next offset to read per partition once the write is committed (partitions this run read).
    pub next: BTreeMap<i32, i64>,
    /// What planning found stored for the sink (`None`: nothing yet). A sink that can compare and set (PostgreSQL)
    /// refuses the write when another run has moved them since.
    pub expected: BTreeMap<i32, Option<i64>>,
}

impl TakenOffsets {
    /// As Delta transaction actions.
    pub fn transactions(&self) -> Vec<Transaction> {
        transactions(&self.consumer, &self.topic, &self.next)
    }
}

/// Transaction actions recording `next` offsets.
pub fn transactions(consumer: &str, topic: &str, next: &BTreeMap<i32, i64>) -> Vec<Transaction> {
    let now = chrono::Utc::now().timestamp_millis();
    next.iter()
        .map(|(&p, &offset)| Transaction::new_with_last_update(app_id(consumer, topic, p), offset, Some(now)))
        .collect()
}

/// Where a run reads, given the offsets each of the source's output tables stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// Per partition: the stored next offset (`None`: no table has read this partition yet).
    pub start: BTreeMap<i32, Option<i64>>,
    /// A recovery run's end per partition: the offset the tables that committed last reached.
    pub stop: BTreeMap<i32, i64>,
    /// Indices (into the `tables` argument) of tables that already hold the recovery range.
    pub ahead: Vec<usize>,
}

impl Resume {
    /// Whether the run is a recovery read: some tables lag the others, and only their missing range is read.
    pub fn is_recovery(&self) -> bool {
        !self.stop.is_empty()
    }
}

/// Reconcile the offsets of the tables fed by one source. `tables[i]` is `None` for a table that does not exist.
pub fn resume(partitions: &[i32], tables: &[Option<BTreeMap<i32, Option<i64>>>]) -> Result<Resume> {
    let at = |t: usize, p: i32| tables[t].as_ref().and_then(|m| m.get(&p).copied().flatten());
    let mut start = BTreeMap::new();
    let mut stop = BTreeMap::new();
    for &p in partitions {
        let values: Vec<Option<i64>> = (0..tables.len()).map(|t| at(t, p)).collect();
        let low = values.iter().copied().min().flatten();
        let high = values.iter().copied().max().flatten();
        start.insert(p, low);
        if values.iter().any(|v| *v != values[0])
            && let Some(high) = high
        {
            stop.insert(p, high);
        }
    }
    if stop.is_empty() {
        return Ok(Resume {
            start,
            stop,
            ahead: Vec::new(),
        });
    }
    // Every table must be wholly at the low or wholly at the high mark: one commit either happened or not.
    let mut ahead = Vec::new();
    for t in 0..tables.len() {
        let is_high = stop.iter().all(|(&p, &high)| at(t, p) == Some(high));
        let is_low = stop.keys().all(|&p| at(t, p) == start[&p]);
        match (is_high, is_low) {
            (true, _) => ahead.push(t),
            (false, true) => {}
            (false, false) => {
                return Err(ConnectorError::KafkaOffsets {
                    tables: tables.to_vec(),
                });
            }
        }
    }
    Ok(Resume { start, stop, ahead })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(v: &[(i32, Option<i64>)]) -> Option<BTreeMap<i32, Option<i64>>> {
        Some(v.iter().copied().collect())
    }

    #[test]
    fn agreeing_tables_resume_where_they_stopped() {
        let r = resume(
            &[0, 1],
            &[offsets(&[(0, Some(5)), (1, None)]), offsets(&[(0, Some(5)), (1, None)])],
        )
        .unwrap();
        assert_eq!(r.start, BTreeMap::from([(0, Some(5)), (1, None)]));
        assert!(!r.is_recovery());
        let first = resume(&[0], &[None, None]).unwrap();
        assert_eq!(first.start, BTreeMap::from([(0, None)]));
    }

    #[test]
    fn a_run_that_died_between_commits_is_replayed_for_the_laggards() {
        // Table 1 committed offsets 5→9 / 0→4, table 0 and 2 (new) did not.
        let r = resume(
            &[0, 1],
            &[
                offsets(&[(0, Some(5)), (1, None)]),
                offsets(&[(0, Some(9)), (1, Some(4))]),
                None,
            ],
        );
        // Table 2 is at neither mark for partition 0 (it never read it, table 0 did): inconsistent.
        assert!(r.is_err());
        let r = resume(
            &[0, 1],
            &[
                offsets(&[(0, Some(5)), (1, None)]),
                offsets(&[(0, Some(9)), (1, Some(4))]),
            ],
        )
        .unwrap();
        assert_eq!(r.start, BTreeMap::from([(0, Some(5)), (1, None)]));
        assert_eq!(r.stop, BTreeMap::from([(0, 9), (1, 4)]));
        assert_eq!(r.ahead, vec![1]);
    }

    #[test]
    fn app_ids_name_consumer_topic_and_partition() {
        assert_eq!(app_id("ingest", "raw-stock-data", 3), "strata/ingest/raw-stock-data/3");
        let t = transactions("c", "t", &BTreeMap::from([(0, 7)]));
        assert_eq!((t[0].app_id.as_str(), t[0].version), ("strata/c/t/0", 7));
    }
}
