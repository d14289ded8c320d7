//! Running a planned job: stages run as soon as their inputs are ready (independent stages concurrently), and
//! only when every stage has succeeded are the output tables committed, one Delta commit per table (tables are
//! written concurrently). A failure in any stage therefore leaves every output at its previous version.
//!
//! On a cluster each materialized stage runs as one distributed query that writes its rows as uncommitted Delta
//! files (in parallel, on the executors) and returns their actions; downstream stages read those files, and the
//! commit phase turns each table's actions into one Delta commit. A stage that fails on the cluster (an executor
//! lost beyond what Ballista recovers from) is retried; its orphaned files are never committed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use deltalake::kernel::{Add, Transaction};
use strata_connectors::delta::commit;
use strata_connectors::delta::write_exec::{DeltaWriteNode, WriteTarget, collect_adds};
use strata_connectors::delta::{self, WriteMode};
use strata_sql::StatementKind;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::{PlannerError, Result};
use crate::expect;
use crate::kafka::{self, progress::Progress};
use crate::ledger;
use crate::plan::{PlannedJob, Sink};
use crate::report::{EventSink, JobEvent, OutputReport, RunSummary, StageReport};
use strata_connectors::stage::StageTable;

/// What one stage produced.
struct StageOutcome {
    rows: Option<u64>,
    elapsed: Duration,
    /// Rows to commit (tables and inserts), embedded runs.
    batches: Vec<RecordBatch>,
    /// Files to commit, cluster runs.
    adds: Vec<Add>,
    schema: Option<SchemaRef>,
}

/// How often a stage is re-run after failing on a cluster.
const CLUSTER_STAGE_RETRIES: u32 = 2;

/// Run every stage, then commit. `events` receives progress.
pub async fn run(planned: PlannedJob, events: Option<EventSink>) -> Result<RunSummary> {
    run_as(planned, events, uuid::Uuid::new_v4().to_string()).await
}

/// [`run`] under a run id chosen by the caller (the scheduler's job service). The run is recorded in the
/// warehouse's ledger when it starts and when it ends.
pub async fn run_as(planned: PlannedJob, events: Option<EventSink>, run_id: String) -> Result<RunSummary> {
    let warehouse = planned.warehouse.clone();
    let base = ledger::LedgerEvent {
        run_id: run_id.clone(),
        job: planned.job.path.to_string(),
        event: "started",
        engine: planned.engine.name().to_string(),
        params: serde_json::to_string(
            &planned
                .params
                .iter()
                .cloned()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )
        .unwrap_or_default(),
        ..Default::default()
    };
    ledger::record(&warehouse, base.clone()).await?;
    let result = run_stages(planned, events, run_id).await;
    let end = match &result {
        Ok(summary) => ledger::LedgerEvent {
            event: "succeeded",
            summary: serde_json::to_string(summary).ok(),
            ..base
        },
        Err(e) => ledger::LedgerEvent {
            event: "failed",
            error: Some(e.to_string()),
            failed_stage: match e {
                PlannerError::Stage { stage, .. } => Some(stage.clone()),
                PlannerError::Commit { table, .. } => Some(format!("commit of {table}")),
                PlannerError::Expectation { table, rule, .. } => Some(format!("expectation {rule} of {table}")),
                _ => None,
            },
            ..base
        },
    };
    if let Err(e) = ledger::record(&warehouse, end).await {
        tracing::warn!(error = %e, "could not record the run's end in the ledger");
    }
    result
}

async fn run_stages(planned: PlannedJob, events: Option<EventSink>, run_id: String) -> Result<RunSummary> {
    let started = Instant::now();
    let emit = |e: JobEvent| {
        if let Some(sink) = &events {
            sink(e);
        }
    };
    let dag = &planned.dag;
    emit(JobEvent::Planned {
        stages: dag
            .order
            .iter()
            .map(|&i| (dag.stages[i].name.clone(), dag.stages[i].kind()))
            .collect(),
    });
    tracing::info!(job = %planned.job.path, run_id, stages = dag.stages.len(), "run started");

    let (targets, staging) = if planned.engine.is_distributed() {
        (
            write_targets(&planned).await?,
            staging_targets(&planned, &run_id).await?,
        )
    } else {
        (HashMap::new(), HashMap::new())
    };
    let _staging_dir = StagingDir(planned.warehouse.join(STAGING_DIR).join(&run_id));
    let n = dag.stages.len();
    let mut waiting: Vec<usize> = dag.stages.iter().map(|s| s.deps.len()).collect();
    let mut launched = vec![false; n];
    let mut outcomes: Vec<Option<StageOutcome>> = (0..n).map(|_| None).collect();
    let mut tasks: JoinSet<(usize, Result<StageOutcome, DataFusionError>)> = JoinSet::new();

    loop {
        for &i in &dag.order {
            if launched[i] || waiting[i] > 0 {
                continue;
            }
            launched[i] = true;
            let stage = &dag.stages[i];
            emit(JobEvent::StageStarted {
                index: i,
                name: stage.name.clone(),
            });
            let ctx = planned.ctx.clone();
            let plan = planned.stages[i].plan.clone();
            let materializes = !matches!(stage.statement.kind, StatementKind::View { .. });
            let feeds = planned.stages[i].table.clone();
            let plan = plan.filter(|_| materializes);
            // Staged first: a stage with expectations writes its flagged rows there, not to its table.
            let target = staging
                .get(&i)
                .or_else(|| planned.stages[i].output.as_ref().and_then(|o| targets.get(&o.table)));
            match (plan, target) {
                (Some(plan), Some(target)) => {
                    let target = target.clone();
                    let name = stage.name.clone();
                    let events = events.clone();
                    tasks.spawn(
                        async move { (i, run_stage_on_cluster(ctx, plan, feeds, target, i, name, events).await) },
                    );
                }
                (plan, _) => {
                    tasks.spawn(async move { (i, run_stage(ctx, plan, feeds).await) });
                }
            }
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, result) = joined.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let stage = &dag.stages[i];
        match result {
            Ok(outcome) => {
                emit(JobEvent::StageFinished {
                    index: i,
                    name: stage.name.clone(),
                    rows: outcome.rows,
                    elapsed: outcome.elapsed,
                });
                tracing::info!(stage = %stage.name, rows = outcome.rows, elapsed_ms = outcome.elapsed.as_millis() as u64, "stage finished");
                for d in dag.dependents(i) {
                    waiting[d.index] -= 1;
                }
                outcomes[i] = Some(outcome);
            }
            Err(source) => {
                tasks.abort_all();
                tracing::error!(stage = %stage.name, error = %source, "stage failed; nothing committed");
                return Err(PlannerError::Stage {
                    stage: stage.name.clone(),
                    location: stage.location().clone(),
                    source: Box::new(source),
                });
            }
        }
    }
    if outcomes.iter().any(Option::is_none) {
        return Err(DataFusionError::Internal("a stage never became ready".into()).into());
    }

    let (expectations, extra) = apply_expectations(&planned, &targets, &mut outcomes, &run_id).await?;

    let mut progress = Vec::with_capacity(planned.kafka.len());
    for source in &planned.kafka {
        let p = kafka::progress::progress(&planned.ctx, source)
            .await
            .map_err(|e| PlannerError::Stage {
                stage: source.name.clone(),
                location: dag.stages[source.stage].location().clone(),
                source: Box::new(e),
            })?;
        tracing::info!(source = %source.name, messages = p.messages, malformed = p.malformed, "Kafka messages staged");
        progress.push(p);
    }
    let (outputs, dead_letters) = commit(&planned, &targets, &mut outcomes, &progress, extra, &emit).await?;
    let mut sources = Vec::with_capacity(planned.kafka.len());
    for (i, (source, p)) in planned.kafka.iter().zip(&progress).enumerate() {
        sources.push(kafka::progress::finish(source, p, dead_letters.contains(&i)).await);
    }
    let stages = dag
        .order
        .iter()
        .filter_map(|&i| outcomes[i].as_ref().map(|o| (i, o)))
        .map(|(i, o)| StageReport {
            stage: dag.stages[i].name.clone(),
            kind: dag.stages[i].kind(),
            rows_out: o.rows,
            elapsed_ms: o.elapsed.as_millis(),
        })
        .collect();
    let summary = RunSummary {
        job: planned.job.path.to_string(),
        run_id,
        stages,
        outputs,
        sources,
        expectations,
        elapsed_ms: started.elapsed().as_millis(),
    };
    tracing::info!(job = %summary.job, run_id = %summary.run_id, elapsed_ms = summary.elapsed_ms as u64, "run succeeded");
    Ok(summary)
}

/// Execute one stage's plan (none for sources and views) and hand its rows to the stages that read it.
async fn run_stage(
    ctx: SessionContext,
    plan: Option<LogicalPlan>,
    feeds: Option<Arc<StageTable>>,
) -> Result<StageOutcome, DataFusionError> {
    let started = Instant::now();
    let Some(plan) = plan else {
        return Ok(StageOutcome {
            rows: None,
            elapsed: started.elapsed(),
            batches: Vec::new(),
            adds: Vec::new(),
            schema: None,
        });
    };
    let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let partitions = ctx.execute_logical_plan(plan).await?.collect_partitioned().await?;
    let rows = partitions.iter().flatten().map(|b| b.num_rows() as u64).sum();
    let batches: Vec<RecordBatch> = partitions.iter().flatten().cloned().collect();
    if let Some(table) = feeds {
        table.append(partitions)?;
    }
    Ok(StageOutcome {
        rows: Some(rows),
        elapsed: started.elapsed(),
        batches,
        adds: Vec::new(),
        schema: Some(schema),
    })
}

/// Where each output table's files go, decided once per table so a table's creating stage and its inserts
/// write alike.
async fn write_targets(planned: &PlannedJob) -> Result<HashMap<String, WriteTarget>> {
    let mut targets = HashMap::new();
    for (table, members) in output_groups(planned) {
        let lead = lead_stage(planned, &members);
        let (Some(output), Some(plan)) = (&planned.stages[lead].output, &planned.stages[lead].plan) else {
            continue;
        };
        if output.sink.is_some() {
            continue;
        }
        let schema: SchemaRef = match &planned.stages[lead].expectations {
            Some(e) => expect::schema_of(&e.keep),
            None => Arc::new(plan.schema().as_arrow().clone()),
        };
        let target = commit::write_target(&output.url, &schema, &output.partition_by, output.mode)
            .await
            .map_err(|source| PlannerError::Commit {
                table: table.clone(),
                source: Box::new(source),
            })?;
        targets.insert(table, target);
    }
    Ok(targets)
}

/// Where cluster runs stage Kafka messages (uncommitted Parquet files), under the warehouse; removed after the run.
const STAGING_DIR: &str = ".strata-staging";

/// Removes a run's staging directory when the run ends, however it ends.
struct StagingDir(std::path::PathBuf);

impl Drop for StagingDir {
    fn drop(&mut self) {
        if self.0.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.0)
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove the staging directory");
        }
    }
}

/// On a cluster, a Kafka source's stage writes the messages it read as files that every executor can read.
async fn staging_targets(planned: &PlannedJob, run_id: &str) -> Result<HashMap<usize, WriteTarget>> {
    let mut targets = HashMap::new();
    for source in &planned.kafka {
        let dir = planned.warehouse.join(STAGING_DIR).join(run_id).join(&source.name);
        let dir = std::path::absolute(&dir).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let url = url::Url::from_directory_path(&dir)
            .map_err(|_| DataFusionError::Internal(format!("cannot stage in {}", dir.display())))?;
        let schema = datafusion::catalog::TableProvider::schema(source.staged.as_ref());
        let target = commit::write_target(&url, &schema, &[], WriteMode::Overwrite)
            .await
            .map_err(|source| PlannerError::Commit {
                table: url.to_string(),
                source: Box::new(source),
            })?;
        targets.insert(source.stage, target);
    }
    for (i, stage) in planned.stages.iter().enumerate() {
        let Some(e) = &stage.expectations else { continue };
        let dir = planned
            .warehouse
            .join(STAGING_DIR)
            .join(run_id)
            .join(format!("{}.flagged", e.table));
        let dir = std::path::absolute(&dir).map_err(|e| DataFusionError::External(Box::new(e)))?;
        let url = url::Url::from_directory_path(&dir)
            .map_err(|_| DataFusionError::Internal(format!("cannot stage in {}", dir.display())))?;
        let schema = datafusion::catalog::TableProvider::schema(e.raw.as_ref());
        let target = commit::write_target(&url, &schema, &[], WriteMode::Overwrite)
            .await
            .map_err(|source| PlannerError::Commit {
                table: url.to_string(),
                source: Box::new(source),
            })?;
        targets.insert(i, target);
    }
    Ok(targets)
}

/// Run a stage as one distributed query whose tasks write `target`'s files; retried when the cluster fails it.
async fn run_stage_on_cluster(
    ctx: SessionContext,
    plan: LogicalPlan,
    feeds: Option<Arc<StageTable>>,
    target: WriteTarget,
    index: usize,
    name: String,
    events: Option<EventSink>,
) -> Result<StageOutcome, DataFusionError> {
    let started = Instant::now();
    let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let write = DeltaWriteNode::new(plan, target.clone())?.into_plan();
    let mut attempt = 0;
    let batches = loop {
        let result = match ctx.execute_logical_plan(write.clone()).await {
            Ok(frame) => frame.collect().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(batches) => break batches,
            Err(e) if attempt < CLUSTER_STAGE_RETRIES => {
                attempt += 1;
                tracing::warn!(stage = %name, attempt, error = %e, "stage failed on the cluster; retrying");
                if let Some(sink) = &events {
                    sink(JobEvent::StageRetried {
                        index,
                        name: name.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let (adds, rows) = collect_adds(&batches)?;
    if let Some(table) = feeds {
        table.append_files(&target.table_url, &target.partition_columns, &adds)?;
    }
    Ok(StageOutcome {
        rows: Some(rows),
        elapsed: started.elapsed(),
        batches: Vec::new(),
        adds,
        schema: Some(schema),
    })
}

/// Output tables in the order they first appear, each with the stages that write it.
fn output_groups(planned: &PlannedJob) -> Vec<(String, Vec<usize>)> {
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
fn lead_stage(planned: &PlannedJob, members: &[usize]) -> usize {
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
type ExtraWrite = (String, crate::plan::Output, SchemaRef, Payload);

/// Count every expectation's violations (a `FAIL` rule with any stops the run), and derive from the staged, flagged
/// rows what each table with expectations commits and what its quarantine table receives.
async fn apply_expectations(
    planned: &PlannedJob,
    targets: &HashMap<String, WriteTarget>,
    outcomes: &mut [Option<StageOutcome>],
    run_id: &str,
) -> Result<(Vec<expect::ExpectationReport>, Vec<ExtraWrite>)> {
    let mut reports = Vec::new();
    let mut extra = Vec::new();
    for (i, stage) in planned.stages.iter().enumerate() {
        let (Some(e), Some(output)) = (&stage.expectations, &stage.output) else {
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
        let (batches, adds, rows) =
            expect::materialize(&planned.ctx, e.keep.clone(), targets.get(&output.table)).await?;
        if let Some(o) = outcomes[i].as_mut() {
            o.batches = batches;
            o.adds = adds;
            o.rows = Some(rows);
            o.schema = Some(expect::schema_of(&e.keep));
        }
        if let Some((plan, quarantine)) = &e.quarantine {
            let plan = expect::quarantine_plan(plan, run_id)?;
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
enum Payload {
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
async fn commit(
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
                    Payload::Files(target, adds, rows) => {
                        commit::commit_files(&target, adds, rows, output.mode, txns).await
                    }
                    Payload::Sink(sink, batches) => match *sink {
                        Sink::Merge(m) => crate::merge::merge(&m, schema, batches).await,
                        other => deliver(&other, &batches).await,
                    },
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
        table,
        location: output.url.to_string(),
        version: outcome.version,
        rows_written: outcome.rows,
        mode: match (&output.sink, output.mode) {
            (Some(Sink::Kafka(_)), _) => "produce",
            (Some(Sink::Merge(_)), _) => "merge",
            (Some(Sink::Postgres(p)), _) if p.options.key.is_empty() => "append",
            (Some(Sink::Postgres(_)), _) => "upsert",
            (None, WriteMode::Overwrite) => "overwrite",
            (None, WriteMode::Append) => "append",
        },
    }));
    Ok((reports, dead_letters))
}

/// Produce an insert's rows to its topic, or write them to its PostgreSQL table (one transaction); reported like a
/// write (version 0: neither has versions).
async fn deliver(sink: &Sink, batches: &[RecordBatch]) -> strata_connectors::Result<delta::WriteOutcome> {
    let rows = match sink {
        Sink::Kafka(k) => {
            strata_connectors::kafka::sink::produce(&k.address, &k.options, &k.declared, batches)
                .await?
                .messages
        }
        Sink::Merge(m) => {
            return Err(strata_connectors::ConnectorError::Unsupported {
                location: m.table.clone(),
                message: "a merge needs its source schema".into(),
            });
        }
        Sink::Postgres(p) => {
            let started = Instant::now();
            let outcome = strata_connectors::postgres::sink::write(p, batches).await?;
            tracing::info!(table = %p.options.table, rows = outcome.rows, retries = outcome.retries,
                elapsed_ms = started.elapsed().as_millis() as u64, "PostgreSQL write committed");
            outcome.rows
        }
    };
    Ok(delta::WriteOutcome { version: 0, rows })
}
