//! Writing a run's rows to a PostgreSQL table in one transaction: the table and its declared indexes are created
//! if missing, the rows are sent with binary `COPY`, and with a key they go through a staging table and
//! `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT (key) DO UPDATE` (the last row of a key in the run wins; rows
//! that would not change are not rewritten). When the rows come from Kafka, the same transaction moves the sink's
//! stored offsets (`super::offsets`), so rows and offsets commit together. A failure anywhere rolls the whole
//! transaction back; a lost connection redoes it from the start with backoff, which is safe because nothing was
//! committed. A connection lost while committing is settled by the offsets' run id when the write took offsets; an
//! upsert without offsets is simply redone (it is idempotent), and an append without offsets is reported as lost.

use bytes::{Bytes, BytesMut};
use datafusion::arrow::record_batch::RecordBatch;
use futures::SinkExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::catalog::{create_index_sql, create_table_sql};
use super::connection::{PgAddress, backoff, connect, is_transient, quote_ident};
use super::encode::{CopyEncoder, header, trailer};
use super::offsets::{self, Refused};
use super::options::PgOptions;
use super::types::{FilledColumn, PgColumn};
use crate::error::{ConnectorError, Result, describe_postgres as describe};
use crate::kafka::offsets::TakenOffsets;

/// Bytes sent to the server per COPY message.
const CHUNK_BYTES: usize = 1 << 20;
/// Name of the per-transaction staging table and its arrival-order column.
const STAGE: &str = "strata_stage";
const SEQUENCE: &str = "__strata_seq";

/// A PostgreSQL table a job inserts into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgSink {
    /// The server and database.
    pub address: PgAddress,
    /// The table's options: its key and indexes among them.
    pub options: PgOptions,
    /// The columns the job writes, in the order of its rows.
    pub columns: Vec<PgColumn>,
    /// The table did not exist at planning: create it (with the key as primary key) in the write's transaction.
    pub create: bool,
    /// Declared columns the job never writes: the server fills them (created as identity or `DEFAULT now()`).
    #[serde(default)]
    pub filled: Vec<FilledColumn>,
}

/// What a write did.
#[derive(Debug, Clone, Copy)]
pub struct SinkOutcome {
    /// Rows sent: for an upsert the rows staged, duplicates of a key included.
    pub rows: u64,
    /// Connection losses survived.
    pub retries: u32,
}

/// Why one attempt at the write's transaction failed.
enum Failure {
    /// The connection was lost before committing: nothing was committed; the whole transaction may be redone.
    Retryable(tokio_postgres::Error),
    /// The connection was lost while committing: the server may or may not have committed.
    Ambiguous(tokio_postgres::Error),
    /// The server refused the work: redoing it cannot help.
    Fatal(tokio_postgres::Error),
    /// The rows could not be encoded.
    Encode(ConnectorError),
    /// Another run moved the stored offsets: this run's rows must not be written.
    Moved(ConnectorError),
}

impl From<Refused> for Failure {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Moved(e) => Failure::Moved(e),
            Refused::Sql(e) => classify(e),
        }
    }
}

fn classify(e: tokio_postgres::Error) -> Failure {
    if is_transient(&e) {
        Failure::Retryable(e)
    } else {
        Failure::Fatal(e)
    }
}

/// Write `batches` (columns in `sink.columns` order) and the Kafka offsets `taken` (by run `run_id`) in one
/// transaction, retrying lost connections.
pub async fn write(
    sink: &PgSink,
    batches: &[RecordBatch],
    run_id: &str,
    taken: &[TakenOffsets],
) -> Result<SinkOutcome> {
    let retries = sink.options.connect.retries;
    let mut attempt = 0;
    loop {
        let client = connect(&sink.address, &sink.options.connect, "strata-sink").await?;
        if !taken.is_empty()
            && let Err(source) = offsets::ensure(&client).await
        {
            return Err(ConnectorError::PostgresQuery {
                table: offsets::OFFSETS_TABLE.into(),
                source,
            });
        }
        let failure = match attempt_write(sink, client, batches, run_id, taken).await {
            Ok(rows) => {
                return Ok(SinkOutcome { rows, retries: attempt });
            }
            Err(f) => f,
        };
        let (table, server) = (sink.options.table.to_string(), sink.address.display());
        match failure {
            Failure::Retryable(e) if attempt < retries => {
                attempt += 1;
                tracing::warn!(table = %sink.options.table, attempt, error = %describe(&e),
                    "PostgreSQL connection lost during the write; the transaction was rolled back, redoing it");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Failure::Ambiguous(e) if !taken.is_empty() && attempt < retries => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                let client = connect(&sink.address, &sink.options.connect, "strata-sink").await?;
                match offsets::committed_by(&client, &sink.options.table, run_id, taken).await {
                    Ok(Some(true)) => {
                        tracing::info!(table = %sink.options.table, "the commit whose acknowledgement was lost happened");
                        return Ok(SinkOutcome {
                            rows: rows_of(batches),
                            retries: attempt,
                        });
                    }
                    Ok(_) => tracing::warn!(table = %sink.options.table, attempt, error = %describe(&e),
                        "PostgreSQL connection lost while committing, and the commit did not happen; redoing it"),
                    Err(source) => {
                        return Err(ConnectorError::PostgresCommitLost { table, server, source });
                    }
                }
            }
            Failure::Ambiguous(e) if !sink.options.key.is_empty() && attempt < retries => {
                attempt += 1;
                tracing::warn!(table = %sink.options.table, attempt, error = %describe(&e),
                    "PostgreSQL connection lost while committing; redoing the idempotent upsert");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Failure::Ambiguous(source) => {
                return Err(ConnectorError::PostgresCommitLost { table, server, source });
            }
            Failure::Retryable(source) => {
                return Err(ConnectorError::PostgresWrite {
                    table,
                    server,
                    attempts: Some(attempt + 1),
                    source,
                });
            }
            Failure::Fatal(source) => {
                return Err(ConnectorError::PostgresWrite {
                    table,
                    server,
                    attempts: None,
                    source,
                });
            }
            Failure::Moved(e) => return Err(e),
            Failure::Encode(e) => {
                return Err(ConnectorError::PostgresWriteRows {
                    table,
                    server,
                    source: Box::new(e),
                });
            }
        }
    }
}

fn rows_of(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

async fn attempt_write(
    sink: &PgSink,
    mut client: Client,
    batches: &[RecordBatch],
    run_id: &str,
    taken: &[TakenOffsets],
) -> std::result::Result<u64, Failure> {
    let table = &sink.options.table;
    let tx = client.transaction().await.map_err(classify)?;
    if sink.create {
        tx.batch_execute(&create_table_sql(table, &sink.columns, &sink.filled, &sink.options.key))
            .await
            .map_err(classify)?;
    }
    for index in &sink.options.indexes {
        tx.batch_execute(&create_index_sql(table, index))
            .await
            .map_err(classify)?;
    }
    let columns: Vec<String> = sink.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let columns = columns.join(", ");
    let keyed = !sink.options.key.is_empty();
    let rows = if keyed {
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS SELECT {columns}, 0::bigint AS {SEQUENCE} FROM {} WITH NO DATA",
            table.sql()
        ))
        .await
        .map_err(classify)?;
        let staged = copy_in(
            &tx,
            &format!("COPY {STAGE} ({columns}, {SEQUENCE}) FROM STDIN (FORMAT binary)"),
            sink,
            batches,
            true,
        )
        .await?;
        tx.execute(&upsert_sql(sink), &[]).await.map_err(classify)?;
        staged
    } else {
        copy_in(
            &tx,
            &format!("COPY {} ({columns}) FROM STDIN (FORMAT binary)", table.sql()),
            sink,
            batches,
            false,
        )
        .await?
    };
    if !taken.is_empty() {
        offsets::record(&tx, table, run_id, taken).await?;
    }
    tx.commit().await.map_err(|e| {
        if is_transient(&e) {
            Failure::Ambiguous(e)
        } else {
            Failure::Fatal(e)
        }
    })?;
    Ok(rows)
}

async fn copy_in(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &str,
    sink: &PgSink,
    batches: &[RecordBatch],
    sequence: bool,
) -> std::result::Result<u64, Failure> {
    let copy = tx.copy_in::<_, Bytes>(statement).await.map_err(classify)?;
    let mut copy = std::pin::pin!(copy);
    let encoder = CopyEncoder::new(&sink.columns);
    let mut buf = BytesMut::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
    header(&mut buf);
    let mut next: i64 = 0;
    for batch in batches {
        encoder
            .encode(batch, sequence.then_some(next), &mut buf)
            .map_err(Failure::Encode)?;
        next += batch.num_rows() as i64;
        if buf.len() >= CHUNK_BYTES {
            copy.send(buf.split().freeze()).await.map_err(classify)?;
        }
    }
    trailer(&mut buf);
    copy.send(buf.split().freeze()).await.map_err(classify)?;
    copy.as_mut().finish().await.map_err(classify)
}

/// The statement that moves the staged rows into the table.
pub fn upsert_sql(sink: &PgSink) -> String {
    let q = |names: &mut dyn Iterator<Item = &String>| names.map(|n| quote_ident(n)).collect::<Vec<_>>().join(", ");
    let columns = q(&mut sink.columns.iter().map(|c| &c.name));
    let key = q(&mut sink.options.key.iter());
    let rest: Vec<&String> = sink
        .columns
        .iter()
        .map(|c| &c.name)
        .filter(|c| !sink.options.key.contains(c))
        .collect();
    let action = if rest.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let set: Vec<String> = rest
            .iter()
            .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
            .collect();
        let old: Vec<String> = rest.iter().map(|c| format!("t.{}", quote_ident(c))).collect();
        let new: Vec<String> = rest.iter().map(|c| format!("EXCLUDED.{}", quote_ident(c))).collect();
        format!(
            "DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
            set.join(", "),
            old.join(", "),
            new.join(", ")
        )
    };
    format!(
        "INSERT INTO {} AS t ({columns}) SELECT DISTINCT ON ({key}) {columns} FROM {STAGE} ORDER BY {key}, {SEQUENCE} DESC \
         ON CONFLICT ({key}) {action}",
        sink.options.table.sql()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::types::PgType;

    #[test]
    fn upsert_statement() {
        let options =
            PgOptions::parse(&[("table".into(), "daily".into()), ("key".into(), "symbol, day".into())]).unwrap();
        let column = |n: &str, t: PgType| PgColumn::new(n, t, true);
        let sink = PgSink {
            address: PgAddress::parse("postgres://h/db", None).unwrap(),
            options,
            columns: vec![
                column("symbol", PgType::Text),
                column("day", PgType::Date),
                column("close", PgType::Float8),
            ],
            create: false,
            filled: Vec::new(),
        };
        assert_eq!(
            upsert_sql(&sink),
            "INSERT INTO \"daily\" AS t (\"symbol\", \"day\", \"close\") SELECT DISTINCT ON (\"symbol\", \"day\") \
             \"symbol\", \"day\", \"close\" FROM strata_stage ORDER BY \"symbol\", \"day\", __strata_seq DESC ON \
             CONFLICT (\"symbol\", \"day\") DO UPDATE SET \"close\" = EXCLUDED.\"close\" WHERE (t.\"close\") IS \
             DISTINCT FROM (EXCLUDED.\"close\")"
        );
    }
}
