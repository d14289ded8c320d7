//! Kafka offsets kept by PostgreSQL sinks. Each sink table has one row per (consumer, topic, partition) in
//! `strata.kafka_offsets` of its own database, holding the next offset to read. A write stores them in the
//! transaction that writes its rows, so rows and offsets commit together or not at all: a PostgreSQL sink is exactly
//! once on its own, whatever happens to the job's other sinks.
//!
//! The write compares and sets: it refuses to commit when the stored offsets are no longer those the run planned
//! from (another run moved them), and it records the run's id, so that a commit whose acknowledgement was lost can be
//! told apart from one that never happened. Every value is a bound parameter; the table's name is fixed.

use std::collections::BTreeMap;

use tokio_postgres::{Client, Transaction};

use super::connection::{ConnectOptions, PgAddress, connect};
use super::options::TableName;
use crate::error::{ConnectorError, Result};
use crate::kafka::offsets::TakenOffsets;

/// Where PostgreSQL sinks keep their offsets, in their own database.
pub const OFFSETS_TABLE: &str = "strata.kafka_offsets";

const CREATE: &str = "CREATE SCHEMA IF NOT EXISTS strata;
CREATE TABLE IF NOT EXISTS strata.kafka_offsets (
  sink text NOT NULL, consumer text NOT NULL, topic text NOT NULL, partition integer NOT NULL,
  next_offset bigint NOT NULL, run_id text NOT NULL, committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sink, consumer, topic, partition))";

/// How the offsets table names a sink: `schema.name`, `public` when the job names no schema.
pub fn sink_key(sink: &TableName) -> String {
    format!("{}.{}", sink.schema.as_deref().unwrap_or("public"), sink.name)
}

const SELECT_ONE: &str = "SELECT next_offset, run_id FROM strata.kafka_offsets \
     WHERE sink = $1 AND consumer = $2 AND topic = $3 AND partition = $4";

/// The next offsets `sink` stored for `consumer` reading `topic`, per partition (`None`: never written from it).
pub async fn stored(
    address: &PgAddress,
    options: &ConnectOptions,
    sink: &TableName,
    consumer: &str,
    topic: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, Option<i64>>> {
    let table = sink_key(sink);
    let query_err = |source| ConnectorError::PostgresQuery {
        table: OFFSETS_TABLE.into(),
        source,
    };
    let client = connect(address, options, "strata-offsets").await?;
    let mut out: BTreeMap<i32, Option<i64>> = partitions.iter().map(|&p| (p, None)).collect();
    let exists: bool = client
        .query_one("SELECT to_regclass('strata.kafka_offsets') IS NOT NULL", &[])
        .await
        .map_err(query_err)?
        .get(0);
    if !exists {
        return Ok(out);
    }
    let rows = client
        .query(
            "SELECT partition, next_offset FROM strata.kafka_offsets WHERE sink = $1 AND consumer = $2 AND topic = $3",
            &[&table, &consumer, &topic],
        )
        .await
        .map_err(query_err)?;
    for row in rows {
        if let Some(slot) = out.get_mut(&row.get::<_, i32>(0)) {
            *slot = Some(row.get(1));
        }
    }
    Ok(out)
}

/// Create the offsets table if it is missing. Only then: `CREATE SCHEMA IF NOT EXISTS` needs the `CREATE` privilege
/// even when the schema exists, and a sink's role may have been given the table by an administrator instead. Outside
/// the write's transaction: two first runs may race to create it, and the loser's second try finds it there.
pub(crate) async fn ensure(client: &Client) -> std::result::Result<(), tokio_postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('strata.kafka_offsets') IS NOT NULL", &[])
        .await?
        .get(0);
    if exists {
        return Ok(());
    }
    if let Err(first) = client.batch_execute(CREATE).await {
        tracing::debug!(error = %first, "creating the offsets table raced with another run; trying again");
        client.batch_execute(CREATE).await?;
    }
    Ok(())
}

/// Why [`record`] did not store the offsets.
pub(crate) enum Refused {
    /// Another run moved them since this one planned.
    Moved(ConnectorError),
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Refused {
    fn from(e: tokio_postgres::Error) -> Self {
        Refused::Sql(e)
    }
}

/// In the write's transaction, after its rows: move each source's offsets from where the run planned to read from
/// to where it stopped, tagged with the run's id.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    sink: &TableName,
    run_id: &str,
    taken: &[TakenOffsets],
) -> std::result::Result<(), Refused> {
    let sink = sink_key(sink);
    let update = tx
        .prepare(
            "UPDATE strata.kafka_offsets SET next_offset = $5, run_id = $6, committed_at = now() \
             WHERE sink = $1 AND consumer = $2 AND topic = $3 AND partition = $4 AND next_offset = $7",
        )
        .await?;
    // ON CONFLICT DO NOTHING keeps the transaction usable, so a lost race is reported with what won it.
    let insert = tx
        .prepare(
            "INSERT INTO strata.kafka_offsets (sink, consumer, topic, partition, next_offset, run_id) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .await?;
    for t in taken {
        for (&partition, &next) in &t.next {
            let expected = t.expected.get(&partition).copied().flatten();
            let changed = match expected {
                Some(e) => {
                    tx.execute(&update, &[&sink, &t.consumer, &t.topic, &partition, &next, &run_id, &e])
                        .await?
                }
                None => {
                    tx.execute(&insert, &[&sink, &t.consumer, &t.topic, &partition, &next, &run_id])
                        .await?
                }
            };
            if changed != 1 {
                let found = tx
                    .query_opt(SELECT_ONE, &[&sink, &t.consumer, &t.topic, &partition])
                    .await?
                    .map(|r| r.get::<_, i64>(0));
                return Err(Refused::Moved(ConnectorError::OffsetsMoved {
                    sink,
                    topic: t.topic.clone(),
                    partition,
                    expected,
                    found,
                }));
            }
        }
    }
    Ok(())
}

/// After a commit whose outcome is unknown (the connection dropped while committing): whether it happened, i.e.
/// whether the offsets carry this run's id. `None` when the write took no offsets, so the question cannot be answered.
pub(crate) async fn committed_by(
    client: &Client,
    sink: &TableName,
    run_id: &str,
    taken: &[TakenOffsets],
) -> std::result::Result<Option<bool>, tokio_postgres::Error> {
    let Some((t, partition)) = taken.iter().find_map(|t| t.next.keys().next().map(|&p| (t, p))) else {
        return Ok(None);
    };
    let row = client
        .query_opt(SELECT_ONE, &[&sink_key(sink), &t.consumer, &t.topic, &partition])
        .await?;
    Ok(Some(row.is_some_and(|r| r.get::<_, String>(1) == run_id)))
}
