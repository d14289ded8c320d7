//! Which of a job's tables hold a Kafka source's offsets, and what they hold.
//!
//! A table holds a source's offsets when it is written downstream of the source and its commit can carry them
//! atomically with its rows: a Delta table (transaction actions), a PostgreSQL table (its database's offsets table,
//! in the write's transaction) or a topic (its outbox's commit, `strata_connectors::kafka::outbox`). A `MERGE`
//! target cannot yet. A source that feeds no holder would read its whole range again on every run, so [`check`]
//! refuses the job at planning, from the job file alone (no broker, no server): `strata validate` reports it.

use std::collections::{BTreeMap, HashSet};

use strata_connectors::kafka::offsets;
use strata_connectors::postgres;
use strata_sql::StatementKind;

use super::downstream;
use crate::dag::StageDag;
use crate::declare::format::SourceFormat;
use crate::error::{Result, job_err};
use crate::output::{Output, Sink};

/// Whether `out` stores a source's offsets with its rows.
pub(crate) fn holds_offsets(out: &Output) -> bool {
    matches!(out.sink, None | Some(Sink::Postgres(_)) | Some(Sink::Kafka(_)))
}

/// The message of a source that feeds no table holding its offsets.
pub(crate) fn nothing_holds_offsets(source: &str) -> String {
    format!(
        "Kafka table '{source}' feeds no table that can store its offsets (a Delta table, a PostgreSQL table or a \
         topic written from it in this job): every run would read its messages again. Write its rows (or \
         something computed from them) to such a table"
    )
}

/// The next offsets `out` stored for `consumer` reading `topic` (`None`: no table yet).
pub(crate) async fn stored(
    out: &Output,
    consumer: &str,
    topic: &str,
    partitions: &[i32],
) -> strata_connectors::Result<Option<BTreeMap<i32, Option<i64>>>> {
    match &out.sink {
        None => offsets::stored(&out.url, consumer, topic, partitions).await,
        Some(Sink::Postgres(p)) => postgres::offsets::stored(
            &p.address,
            &p.options.connect,
            &p.options.table,
            consumer,
            topic,
            partitions,
        )
        .await
        .map(Some),
        Some(Sink::Kafka(k)) => offsets::stored(&k.outbox.url, consumer, topic, partitions).await,
        Some(Sink::Merge(_)) => Ok(None),
    }
}

/// Refuse a job in which a Kafka source feeds no table that can hold its offsets.
pub(crate) fn check(dag: &StageDag) -> Result<()> {
    let kafka =
        |kind: &StatementKind| matches!(kind, StatementKind::Source(c) if SourceFormat::of(c) == SourceFormat::Kafka);
    let inserted: HashSet<String> = dag
        .stages
        .iter()
        .filter(|s| matches!(s.statement.kind, StatementKind::Insert { .. }))
        .map(|s| s.statement.target().name)
        .collect();
    for source in dag.stages.iter().filter(|s| kafka(&s.statement.kind)) {
        let name = source.statement.target().name;
        if inserted.contains(&name) {
            continue; // a sink, not a source
        }
        let holds = downstream(dag, source.index).into_iter().any(|i| {
            matches!(
                &dag.stages[i].statement.kind,
                StatementKind::Table { .. } | StatementKind::Insert { merge: None, .. }
            )
        });
        if !holds {
            return Err(job_err(&source.statement, nothing_holds_offsets(&name)));
        }
    }
    Ok(())
}
