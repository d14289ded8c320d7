//! The commit phase of a run: once every stage has succeeded, expectations are counted and applied, and every
//! output is committed — PostgreSQL tables first (a server may refuse a write), then Kafka dead letters, then Delta
//! tables and topics, one commit per table.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use deltalake::kernel::{Add, Transaction};
use strata_connectors::delta::write_exec::WriteTarget;
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::delta::{commit, replace};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::{PlannerError, Result};
use crate::expect;
use crate::kafka::{self, progress::Progress};
use crate::plan::{PlannedJob, Sink};
use crate::report::{JobEvent, OutputReport};
use crate::run::StageOutcome;

/// Output tables in the order they first appear, each with the stages that write it.
pub(crate) fn output_groups(planned: &PlannedJob) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for &i in &planned.dag.order {
        if let Some(out) = &planned.stages[i].output {
            match groups.iter_mut().find(|(t, _)| *t == out.table) {
                Some((_, members)) => members.push(i),
                None => groups.push((out.table.clone(), vec![i])),
            }
        }
    }
    groups
}

/// A CREATE TABLE replaces the table (and carries the rows inserted into it); inserts alone append.
pub(crate) fn lead_stage(planned: &PlannedJob, members: &[usize]) -> usize {
    members
        .iter()
        .copied()
        .find(|&i| {
            planned.stages[i]
                .output
                .as_ref()
                .is_some_and(|o| o.mode == WriteMode::Overwrite)
        })
        .unwrap_or(members[0])
}

/// Crash tests: `STRATA_FAILPOINT=before-commit` aborts the process once every stage has run (on a cluster: with
/// every data file written) and before anything is committed; `between-commits` aborts after the first table's
/// commit. An abort is as abrupt as `kill -9`: no cleanup runs.
fn failpoint(name: &str) {
    if std::env::var("STRATA_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::error!(failpoint = name, "failpoint reached: aborting");
        std::process::abort();
    }
}

/// A table the commit writes that no stage outputs directly (a quarantine table).
pub(crate) type ExtraWrite = (String, crate::plan::Output, SchemaRef, Payload);

/// Count every expectation's violations (a `FAIL` rule with any stops the run), and derive from the staged, flagged
/// rows what each table with expectations commits and what its quarantine table receives.
pub(crate) async fn apply_expectations(
    planned: &PlannedJob,
    targets: &HashMap<String, WriteTarget>,
    outcomes: &mut [Option<StageOutcome>],
    run_id: &str,
) -> Result<(Vec<expect::ExpectationReport>, Vec<ExtraWrite>)> {
    let mut reports = Vec::new();
    let mut extra = Vec::new();
    for (i, stage) in planned.stages.iter().enumerate() {
        let Some(e) = &stage.expectations else {
            continue;
        };
        let counted = expect::count(&planned.ctx, e).await?;
        for (rule, report) in e.rules.iter().zip(&counted) {
            tracing::info!(table = %e.table, rule = %rule.name, action = report.action, violations = report.violations, "expectation");
            if rule.action == strata_sql::ViolationAction::Fail && report.violations > 0 {
                return Err(PlannerError::Expectation {
                    table: e.table.clone(),
                    rule: rule.name.clone(),
                    violations: report.violations,
                    location: rule.location.clone(),
                });
            }
        }
        reports.extend(counted);
        // A table or an insert commits the rows that pass; a view has nothing to commit but its quarantine, nor
        // has a table whose inputs did not change.
        if let Some(output) = stage.output.as_ref().filter(|o| !planned.unchanged.contains(&o.table)) {
            let (batches, adds, rows) =
                expect::materialize(&planned.ctx, e.keep.clone(), targets.get(&output.table)).await?;
            if let Some(o) = outcomes[i].as_mut() {
                o.batches = batches;
                o.adds = adds;
                o.rows = Some(rows);
                o.schema = Some(expect::schema_of(&e.keep));
            }
        }
        if let Some((plan, quarantine)) = &e.quarantine {
            let plan =
                expect::not_yet_quarantined(&planned.ctx, plan.clone(), &quarantine.url, &planned.engine).await?;
            let plan = expect::quarantine_plan(&plan, run_id)?;
            let schema = expect::schema_of(&plan);
            let target = if planned.engine.is_distributed() {
                Some(
                    commit::write_target(&quarantine.url, &schema, &[], WriteMode::Append)
                        .await
                        .map_err(|source| PlannerError::Commit {
                            table: quarantine.table.clone(),
                            source: Box::new(source),
                        })?,
                )
            } else {
                None
            };
            let (batches, adds, rows) = expect::materialize(&planned.ctx, plan, target.as_ref()).await?;
            if rows > 0 {
                let payload = match target {
                    Some(target) => Payload::Files(target, adds, rows),
                    None => Payload::Rows(batches),
                };
                extra.push((quarantine.table.clone(), quarantine.clone(), schema, payload));
            }
        }
    }
    Ok((reports, extra))
}

/// What a table's commit carries.
pub(crate) enum Payload {
    Rows(Vec<RecordBatch>),
    Files(WriteTarget, Vec<Add>, u64),
    /// Rows for a Kafka topic or a PostgreSQL table.
    Sink(Box<Sink>, Vec<RecordBatch>),
}

/// Which output tables a run commits, and the Kafka offsets each commit carries.
fn kafka_plan(planned: &PlannedJob, progress: &[Progress]) -> (HashSet<String>, HashMap<String, Vec<Transaction>>) {
    let mut skip = HashSet::new();
    let mut fed: HashMap<String, bool> = HashMap::new();
    let mut transactions: HashMap<String, Vec<Transaction>> = HashMap::new();
    for (source, p) in planned.kafka.iter().zip(progress) {
        // No new message and no replay: nothing for this source to commit.
        let has_input = p.messages > 0 || !p.next.is_empty();
        for table in &source.feeds {
            *fed.entry(table.clone()).or_insert(false) |= has_input;
            if has_input {
                transactions
                    .entry(table.clone())
                    .or_default()
                    .extend(p.transactions(source));
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

/// Commit every output table: one Delta commit per table. Dead letters go first, so a run that dies after them
/// finds them stored (and skips them) instead of losing them behind already-committed offsets. Returns the reports
/// and which sources wrote dead letters.
pub(crate) async fn commit(
    planned: &PlannedJob,
    targets: &HashMap<String, WriteTarget>,
    outcomes: &mut [Option<StageOutcome>],
    progress: &[Progress],
    extra: Vec<ExtraWrite>,
    emit: &impl Fn(JobEvent),
) -> Result<(Vec<OutputReport>, HashSet<usize>)> {
    let groups = output_groups(planned);
    let (skip, mut transactions) = kafka_plan(planned, progress);
    emit(JobEvent::Committing { tables: groups.len() });

    failpoint("before-commit");
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

    // Collect each table's rows (or files), then commit the tables concurrently (bounded by the cores): an
    // embedded write encodes Parquet, which is CPU work, and the tables are independent. Every table still gets
    // exactly one commit.
    let mut writes = Vec::with_capacity(groups.len());
    for (table, members) in groups {
        let lead = lead_stage(planned, &members);
        let Some(output) = planned.stages[lead].output.clone() else {
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
            (None, Some(target)) => Payload::Files(target.clone(), adds, rows),
            (None, None) => Payload::Rows(batches),
        };
        let txns = transactions.remove(&table).unwrap_or_default();
        if let Some(schema) = schema {
            writes.push((table, output, schema, payload, txns));
        }
    }
    writes.extend(
        extra
            .into_iter()
            .map(|(table, output, schema, payload)| (table, output, schema, payload, Vec::new())),
    );
    let slots = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    ));
    // PostgreSQL writes go first: a server can refuse them (constraints, permissions), and a refused write must
    // stop the run before any Delta table or topic is committed.
    let (first, rest): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .enumerate()
        .partition(|(_, w)| matches!(&w.3, Payload::Sink(s, _) if matches!(**s, Sink::Postgres(_))));
    let mut done = Vec::new();
    for phase in [first, rest] {
        let mut tasks = JoinSet::new();
        for (position, (table, output, schema, payload, txns)) in phase {
            let slots = slots.clone();
            let replace = planned.replaces.get(&table).cloned();
            tasks.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let result = match payload {
                    Payload::Rows(batches) => {
                        delta::write_with_transactions(
                            &output.url,
                            schema,
                            batches,
                            &output.partition_by,
                            output.mode,
                            txns,
                        )
                        .await
                    }
                    Payload::Files(target, adds, rows) => match &replace {
                        Some(r) => replace::replace_files(&target, adds, rows, r, txns).await,
                        None => commit::commit_files(&target, adds, rows, output.mode, txns).await,
                    },
                    Payload::Sink(sink, batches) => deliver(&sink, schema, batches).await,
                };
                (position, table, output, result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (position, table, output, result) = joined.map_err(|e| DataFusionError::External(Box::new(e)))?;
            let outcome = result.map_err(|source| PlannerError::Commit {
                table: table.clone(),
                source: Box::new(source),
            })?;
            emit(JobEvent::Committed {
                table: table.clone(),
                version: outcome.version,
                rows: outcome.rows,
            });
            tracing::info!(table = %table, version = outcome.version, rows = outcome.rows, "committed");
            done.push((position, table, output, outcome));
            failpoint("between-commits");
        }
    }
    done.sort_by_key(|(position, ..)| *position);
    reports.extend(done.into_iter().map(|(_, table, output, outcome)| OutputReport {
        mode: match (&output.sink, output.mode) {
            _ if planned.replaces.contains_key(&table) => "replace range",
            (Some(Sink::Kafka(_)), _) => "produce",
            (Some(Sink::Merge(_)), _) => "merge",
            (Some(Sink::Postgres(p)), _) if p.options.key.is_empty() => "append",
            (Some(Sink::Postgres(_)), _) => "upsert",
            (None, WriteMode::Overwrite) => "overwrite",
            (None, WriteMode::Append) => "append",
        },
        table,
        location: output.url.to_string(),
        version: outcome.version,
        rows_written: outcome.rows,
    }));
    Ok((reports, dead_letters))
}

/// Produce an insert's rows to its topic, write them to its PostgreSQL table (one transaction; reported as version
/// 0: neither has versions), or merge them into a Delta table.
async fn deliver(
    sink: &Sink,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> strata_connectors::Result<delta::WriteOutcome> {
    let rows = match sink {
        Sink::Kafka(k) => {
            strata_connectors::kafka::sink::produce(&k.address, &k.options, &k.declared, &batches)
                .await?
                .messages
        }
        Sink::Merge(m) => return crate::merge::merge(m, schema, batches).await,
        Sink::Postgres(p) => {
            let started = Instant::now();
            let outcome = strata_connectors::postgres::sink::write(p, &batches).await?;
            tracing::info!(table = %p.options.table, rows = outcome.rows, retries = outcome.retries,
                elapsed_ms = started.elapsed().as_millis() as u64, "PostgreSQL write committed");
            outcome.rows
        }
    };
    Ok(delta::WriteOutcome { version: 0, rows })
}
