//! One table's write in the commit phase: what it carries, and how it commits itself — one Delta commit (rows
//! encoded here, files the stages wrote, a range's files replaced, or a merge), one PostgreSQL transaction, or one
//! produce to a topic.

use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::kernel::Add;
use strata_connectors::delta::replace::{self, Replace};
use strata_connectors::delta::write_exec::WriteTarget;
use strata_connectors::delta::{self, WriteOutcome, commit};
use strata_connectors::kafka::offsets::TakenOffsets;
use strata_connectors::kafka::outbox;

use crate::error::{PlannerError, Result};
use crate::output::{Output, Sink};
use crate::report::OutputReport;

/// What a table's commit carries.
pub(crate) enum Payload {
    /// Rows the commit encodes itself (embedded runs).
    Rows(Vec<RecordBatch>),
    /// Files the stages already wrote (cluster runs, range rewrites).
    Files {
        target: WriteTarget,
        adds: Vec<Add>,
        rows: u64,
    },
    /// Rows for a Kafka topic, a PostgreSQL table or a merge.
    Sink(Box<Sink>, Vec<RecordBatch>),
}

/// Everything one table's commit writes.
pub(crate) struct TableWrite {
    pub table: String,
    pub output: Output,
    pub schema: SchemaRef,
    pub payload: Payload,
    /// The Kafka offsets the commit stores with the rows (how the next run knows where to resume).
    pub offsets: Vec<TakenOffsets>,
    /// The run committing (a PostgreSQL sink tags its offsets with it).
    pub run_id: String,
    /// The files a range rewrite replaces.
    pub replace: Option<Replace>,
}

impl TableWrite {
    /// A PostgreSQL write: a server can refuse it (constraints, permissions), so it goes before the others.
    pub fn goes_first(&self) -> bool {
        matches!(&self.payload, Payload::Sink(sink, _) if sink.is_postgres())
    }

    /// How the run summary names the write.
    pub fn mode(&self) -> &'static str {
        self.output.report_mode(self.replace.is_some())
    }

    /// Commit the write, all or nothing; its outcome and time go to the metrics.
    pub async fn commit(self) -> Result<OutputReport> {
        let (table, kind, started) = (self.table.clone(), self.kind(), Instant::now());
        let result = self.commit_unmetered().await;
        crate::metrics::commit(&table, kind, &result, started.elapsed());
        result
    }

    /// What the commit writes to.
    fn kind(&self) -> crate::metrics::CommitKind {
        use crate::metrics::CommitKind;
        match &self.payload {
            Payload::Sink(sink, _) => match sink.as_ref() {
                Sink::Postgres(_) => CommitKind::Postgres,
                Sink::Kafka(_) => CommitKind::Kafka,
                Sink::Merge(_) => CommitKind::Delta,
            },
            Payload::Rows(_) | Payload::Files { .. } => CommitKind::Delta,
        }
    }

    async fn commit_unmetered(self) -> Result<OutputReport> {
        let mode = self.mode();
        let TableWrite {
            table,
            output,
            schema,
            payload,
            offsets,
            run_id,
            replace,
        } = self;
        let transactions = || offsets.iter().flat_map(TakenOffsets::transactions).collect::<Vec<_>>();
        let result = match payload {
            Payload::Rows(batches) => {
                delta::write_with_transactions(
                    &output.url,
                    schema,
                    batches,
                    &output.partition_by,
                    output.mode,
                    transactions(),
                )
                .await
            }
            Payload::Files { target, adds, rows } => match &replace {
                Some(r) => replace::replace_files(&target, adds, rows, r, transactions()).await,
                None => commit::commit_files(&target, adds, rows, output.mode, transactions()).await,
            },
            Payload::Sink(sink, batches) => deliver(&sink, schema, batches, &run_id, &offsets).await,
        };
        let outcome = result.map_err(|source| PlannerError::Commit {
            table: table.clone(),
            source: Box::new(source),
        })?;
        Ok(OutputReport {
            table,
            location: output.url.to_string(),
            version: outcome.version,
            rows_written: outcome.rows,
            mode,
        })
    }
}

/// Produce an insert's rows to its topic (through its outbox when they come from Kafka), write them and their
/// offsets to its PostgreSQL table (one transaction; reported as version 0: neither has versions), or merge them
/// into a Delta table.
async fn deliver(
    sink: &Sink,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    run_id: &str,
    offsets: &[TakenOffsets],
) -> strata_connectors::Result<WriteOutcome> {
    let rows = match sink {
        // Rows read from Kafka go through the outbox, with the source offsets: exactly once.
        Sink::Kafka(k) if !offsets.is_empty() => {
            let transactions = offsets.iter().flat_map(TakenOffsets::transactions).collect();
            let rows = outbox::append(&k.outbox, &k.options, &k.declared, &batches, run_id, transactions).await?;
            outbox::publish(&k.outbox, &k.address, &k.options).await?;
            rows
        }
        Sink::Kafka(k) => {
            strata_connectors::kafka::sink::produce(&k.address, &k.options, &k.declared, &batches)
                .await?
                .messages
        }
        Sink::Merge(m) => return crate::merge::merge(m, schema, batches).await,
        Sink::Postgres(p) => {
            let started = Instant::now();
            let outcome = strata_connectors::postgres::sink::write(p, &batches, run_id, offsets).await?;
            tracing::info!(table = %p.options.table, rows = outcome.rows, retries = outcome.retries,
                elapsed_ms = started.elapsed().as_millis() as u64, "PostgreSQL write committed");
            outcome.rows
        }
    };
    Ok(WriteOutcome { version: 0, rows })
}
