//! The commit phase of a run: once every stage has run and been finalized (`crate::finalize`), every output is
//! committed, in this order:
//!
//! 0. what an interrupted run left in a Kafka sink's outbox, published;
//! 1. the dead letters of each Kafka source, one Delta commit per source in source order, each storing the
//!    source's offsets with its rows;
//! 2. every PostgreSQL table (one transaction each, concurrently);
//! 3. everything else (concurrently, bounded by the cores): Delta tables (one commit each, storing the offsets of
//!    the Kafka sources that feed them), merges, Kafka topics and quarantine tables.
//!
//! Each step starts once the previous one has succeeded; the first failure stops the run and cancels the writes
//! still in flight. Every write is atomic on its own, but the run as a whole is not: a run that dies (or fails)
//! between two commits leaves the tables committed so far at their new version and the others at their previous
//! one. Every table fed by a Kafka source stores the source's offsets with its own rows (Delta transaction actions,
//! or rows of the PostgreSQL sink's offsets table in the same transaction), so each of them is exactly once on its
//! own: the next run re-reads the range for the tables that missed it alone, and the tables that committed it skip
//! theirs. The order only saves work: dead letters are stored before any table's offsets move past them, so a later
//! run skips them rather than losing them, and a PostgreSQL server that refuses a write stops the run before any
//! Delta table or topic changes. A topic fed by a Kafka source stores them in its outbox's commit and is published
//! after it (`strata_connectors::kafka::outbox`; step 0 finishes what an interrupted run left unpublished); a topic
//! fed by anything else stores none: what a later run reads again, it produces again.

pub(crate) mod write;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::error::DataFusionError;
use strata_connectors::delta::write_exec::WriteTarget;
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::kafka::offsets::TakenOffsets;
use strata_connectors::kafka::outbox;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use self::write::{Payload, TableWrite};
use crate::config::Failpoint;
use crate::error::{PlannerError, Result};
use crate::kafka::{self, progress::Progress};
use crate::outcome::StageOutcome;
use crate::output::{Output, Sink};
use crate::plan::{OutputGroup, PlannedJob};
use crate::report::{JobEvent, OutputReport};

/// Commit every output, in the order the module documents: the dead letters, then `writes` of the output tables
/// and `quarantines`, PostgreSQL ones first. Returns the reports (in that order, tables as they first appear in
/// the job) and which sources wrote dead letters.
pub(crate) async fn commit(
    planned: &PlannedJob,
    run_id: &str,
    targets: &HashMap<String, WriteTarget>,
    outcomes: &mut [Option<StageOutcome>],
    progress: &[Progress],
    quarantines: Vec<TableWrite>,
    emit: &impl Fn(JobEvent),
) -> Result<(Vec<OutputReport>, HashSet<usize>)> {
    let groups = planned.output_groups();
    emit(JobEvent::Committing { tables: groups.len() });
    failpoint(planned.failpoint, Failpoint::BeforeCommit);
    publish_pending(planned).await?;

    let (mut reports, dead_letters) = commit_dead_letters(planned, progress, emit).await?;
    // Collect each table's rows (or files), then commit the tables of a step concurrently: an embedded write
    // encodes Parquet, which is CPU work, and the tables are independent. Every table still gets one commit.
    let mut writes = table_writes(planned, run_id, groups, targets, outcomes, progress);
    writes.extend(quarantines);
    let slots = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    ));
    let (first, rest): (Vec<_>, Vec<_>) = writes.into_iter().enumerate().partition(|(_, w)| w.goes_first());
    let mut done = Vec::new();
    for step in [first, rest] {
        done.extend(commit_together(step, &slots, planned.failpoint, emit).await?);
    }
    done.sort_by_key(|(position, _)| *position);
    reports.extend(done.into_iter().map(|(_, report)| report));
    Ok((reports, dead_letters))
}

/// Finish what an earlier run put in a Kafka sink's outbox but did not publish (it died while publishing), before
/// this run adds to it: whether or not this run has anything for the sink.
async fn publish_pending(planned: &PlannedJob) -> Result<()> {
    let mut seen = HashSet::new();
    for stage in &planned.stages {
        if let Some(Output {
            table,
            sink: Some(Sink::Kafka(k)),
            ..
        }) = stage.output()
            && seen.insert(k.outbox.url.clone())
        {
            let sent = outbox::publish(&k.outbox, &k.address, &k.options)
                .await
                .map_err(|e| PlannerError::Commit {
                    table: table.clone(),
                    source: Box::new(e),
                })?;
            if sent > 0 {
                tracing::warn!(table = %table, sent, "published what an interrupted run left in the outbox");
            }
        }
    }
    Ok(())
}

/// Crash tests: abort the process at `at` when the run's options name it, or wait there to be killed.
fn failpoint(set: Option<Failpoint>, at: Failpoint) {
    if set == Some(at) {
        tracing::error!(failpoint = at.name(), "failpoint reached: aborting");
        std::process::abort();
    }
    if set == Some(Failpoint::PauseBetweenCommits) && at == Failpoint::BetweenCommits {
        tracing::error!(failpoint = at.name(), "failpoint reached: waiting to be killed");
        // Blocking on purpose: nothing else of this run may move while the test takes its aim.
        std::thread::sleep(std::time::Duration::from_secs(600));
        std::process::abort();
    }
}

/// Which output tables a run commits, and the Kafka offsets each commit carries.
fn kafka_plan(planned: &PlannedJob, progress: &[Progress]) -> (HashSet<String>, HashMap<String, Vec<TakenOffsets>>) {
    let mut skip = HashSet::new();
    let mut fed: HashMap<String, bool> = HashMap::new();
    let mut transactions: HashMap<String, Vec<TakenOffsets>> = HashMap::new();
    for (source, p) in planned.kafka.iter().zip(progress) {
        // No new message and no replay: nothing for this source to commit.
        let has_input = p.messages > 0 || !p.next.is_empty();
        for table in &source.feeds {
            *fed.entry(table.clone()).or_insert(false) |= has_input;
            if has_input {
                transactions.entry(table.clone()).or_default().push(TakenOffsets {
                    consumer: source.consumer.clone(),
                    topic: source.address.topic.clone(),
                    next: p.next.clone(),
                    expected: source.stored.get(table).cloned().unwrap_or_default(),
                });
            }
        }
        skip.extend(source.ahead.iter().cloned());
    }
    skip.extend(
        fed.into_iter()
            .filter(|(_, has_input)| !has_input)
            .map(|(table, _)| table),
    );
    (skip, transactions)
}

/// Each output table's write: the rows (or files) of every stage that writes it, and the offsets its commit
/// stores. Tables with nothing new get none.
fn table_writes(
    planned: &PlannedJob,
    run_id: &str,
    groups: Vec<OutputGroup>,
    targets: &HashMap<String, WriteTarget>,
    outcomes: &mut [Option<StageOutcome>],
    progress: &[Progress],
) -> Vec<TableWrite> {
    let (skip, mut transactions) = kafka_plan(planned, progress);
    let mut writes = Vec::with_capacity(groups.len());
    for OutputGroup { table, members, lead } in groups {
        let Some(output) = planned.stages[lead].output().cloned() else {
            continue;
        };
        if planned.unchanged.contains(&table) {
            tracing::info!(table = %table, "not committed: nothing new in its inputs");
            continue;
        }
        if skip.contains(&table) {
            tracing::info!(table = %table, "not committed: no new Kafka input, or it already holds the replayed range");
            continue;
        }
        let mut schema = None;
        let mut batches = Vec::new();
        let mut adds = Vec::new();
        let mut rows = 0;
        for &i in &members {
            if let Some(o) = outcomes[i].as_mut() {
                schema = schema.or(o.schema.clone());
                batches.append(&mut o.batches);
                adds.append(&mut o.adds);
                rows += o.rows.unwrap_or(0);
            }
        }
        let payload = match (&output.sink, targets.get(&table)) {
            (Some(sink), _) => Payload::Sink(Box::new(sink.clone()), batches),
            (None, Some(target)) => Payload::Files {
                target: target.clone(),
                adds,
                rows,
            },
            (None, None) => Payload::Rows(batches),
        };
        let offsets = transactions.remove(&table).unwrap_or_default();
        if let Some(schema) = schema {
            writes.push(TableWrite {
                replace: planned.replaces.get(&table).cloned(),
                table,
                output,
                schema,
                payload,
                offsets,
                run_id: run_id.to_string(),
            });
        }
    }
    writes
}

/// Step 1: each source's dead letters, with the source's offsets.
async fn commit_dead_letters(
    planned: &PlannedJob,
    progress: &[Progress],
    emit: &impl Fn(JobEvent),
) -> Result<(Vec<OutputReport>, HashSet<usize>)> {
    let mut reports = Vec::new();
    let mut dead_letters = HashSet::new();
    for (i, (source, p)) in planned.kafka.iter().zip(progress).enumerate() {
        if p.dead_letters.is_empty() {
            continue;
        }
        let dl = &source.dead_letter;
        let outcome = delta::write_with_transactions(
            &dl.url,
            kafka::dead_letter_schema(),
            p.dead_letters.clone(),
            &[],
            WriteMode::Append,
            p.transactions(source),
        )
        .await
        .map_err(|e| PlannerError::Commit {
            table: dl.table.clone(),
            source: Box::new(e),
        })?;
        emit(JobEvent::Committed {
            table: dl.table.clone(),
            version: outcome.version,
            rows: outcome.rows,
        });
        tracing::info!(table = %dl.table, version = outcome.version, rows = outcome.rows, "dead letters committed");
        dead_letters.insert(i);
        reports.push(OutputReport {
            table: dl.table.clone(),
            location: dl.url.to_string(),
            version: outcome.version,
            rows_written: outcome.rows,
            mode: "append",
        });
    }
    Ok((reports, dead_letters))
}

/// Steps 2 and 3: commit `writes` concurrently (at most one per slot); the first failure cancels the others.
/// Returns each write's report with its position.
async fn commit_together(
    writes: Vec<(usize, TableWrite)>,
    slots: &Arc<Semaphore>,
    set: Option<Failpoint>,
    emit: &impl Fn(JobEvent),
) -> Result<Vec<(usize, OutputReport)>> {
    let mut tasks = JoinSet::new();
    for (position, write) in writes {
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            (position, write.commit().await)
        });
    }
    let mut done = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (position, result) = joined.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let report = result?;
        emit(JobEvent::Committed {
            table: report.table.clone(),
            version: report.version,
            rows: report.rows_written,
        });
        tracing::info!(table = %report.table, version = report.version, rows = report.rows_written, "committed");
        done.push((position, report));
        failpoint(set, Failpoint::BetweenCommits);
    }
    Ok(done)
}
