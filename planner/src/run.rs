//! Running a planned job: stages run as soon as their inputs are ready (independent stages concurrently), and
//! only when every stage has succeeded are the output tables committed, one Delta commit per table (tables are
//! written concurrently). A failure in any stage therefore leaves every output at its previous version.
//!
//! Each materialized stage runs as one query that writes its rows as uncommitted Delta files while it runs (on a
//! cluster in parallel on the executors; embedded, one writer per output partition) and returns their actions;
//! downstream stages read those files, and the commit phase turns each table's actions into one Delta commit. A
//! run therefore never holds a table's rows in memory (sinks aside: PostgreSQL, Kafka and merges take rows). A stage that fails on the cluster (an executor
//! lost beyond what Ballista recovers from) is retried; its orphaned files are never committed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use strata_connectors::conform::conform;
use strata_connectors::delta::WriteMode;
use strata_connectors::delta::commit::write_target;
use strata_connectors::delta::write_exec::{DeltaWriteNode, WriteTarget};
use strata_connectors::delta::write_result::collect_adds;
use tokio::task::JoinSet;

use crate::commit::commit;
use crate::error::{PlannerError, Result};
use crate::expect;
use crate::finalize::finalize;
use crate::kafka;
use crate::ledger;
use crate::outcome::StageOutcome;
use crate::plan::PlannedJob;
use crate::report::{EventSink, JobEvent, RunSummary, StageReport};
use crate::retry::Retry;
use crate::stop::StopHandle;
use strata_connectors::stage::StageTable;

/// How often a stage is re-run after failing on a cluster.
const CLUSTER_STAGE_RETRIES: u32 = 2;

/// Run every stage, then commit. `events` receives progress.
pub async fn run(planned: PlannedJob, events: Option<EventSink>) -> Result<RunSummary> {
    run_as(planned, events, uuid::Uuid::new_v4().to_string()).await
}

/// [`run`] under a run id chosen by the caller (the scheduler's job service). The run is recorded in the
/// warehouse's ledger when it starts and when it ends.
pub async fn run_as(planned: PlannedJob, events: Option<EventSink>, run_id: String) -> Result<RunSummary> {
    run_stoppable(planned, events, run_id, StopHandle::default()).await
}

/// [`run_as`], stoppable through `stop` until its commit begins: a stopped run ends as failed (ledger included),
/// with nothing committed and its staging removed.
pub async fn run_stoppable(
    mut planned: PlannedJob,
    events: Option<EventSink>,
    run_id: String,
    stop: StopHandle,
) -> Result<RunSummary> {
    let ledger = planned.ledger.clone();
    let base = ledger::LedgerEvent {
        run_id: run_id.clone(),
        job: planned.job.path.to_string(),
        event: ledger::RunEvent::Started,
        engine: planned.engine.name().to_string(),
        mode: match &planned.trigger {
            Some(trigger) => format!("{} {trigger}", planned.mode.describe()),
            None => planned.mode.describe(),
        },
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
    // The start row carries the stage DAG, so a run that fails before its summary still shows its stages.
    let plan = serde_json::json!({ "stages": planned.dag.order.iter().map(|&i| {
        let stage = &planned.dag.stages[i];
        serde_json::json!({
            "stage": stage.name,
            "kind": stage.kind(),
            "inputs": stage.deps.iter().map(|&d| planned.dag.stages[d].name.clone()).collect::<Vec<_>>(),
            "location": stage.location().to_string(),
        })
    }).collect::<Vec<_>>() });
    ledger
        .record(ledger::LedgerEvent {
            summary: Some(plan.to_string()),
            ..base.clone()
        })
        .await?;
    let (job, run_started, run_epoch_ms) = (base.job.clone(), Instant::now(), crate::tasks::epoch_ms());
    let task_log = planned.task_log.clone();
    let writers = writers(&planned, &base.run_id);
    crate::metrics::run_started(&job);
    let staging = planned.warehouse.join(&format!("{STAGING_DIR}/{run_id}"))?;
    let maintenance = std::mem::take(&mut planned.maintenance);
    let fresh = crate::fresh::fresh_tables(&planned).await;
    // The run's span (exported as an OpenTelemetry trace when the process is configured to): its stages' spans
    // are its children.
    let span = tracing::info_span!("run", job = %job, run_id = %base.run_id, engine = %base.engine, mode = %base.mode);
    let mut result = {
        let stages = tracing::Instrument::instrument(run_stages(planned, events, run_id, &stop), span);
        tokio::pin!(stages);
        tokio::select! {
            result = &mut stages => result,
            reason = stop.stopped() => Err(PlannerError::Stopped(reason)),
        }
    };
    // However the run ended, its staged files go (Kafka messages, flagged rows: nothing a table references).
    if let Err(e) = strata_connectors::store::remove_all(&staging).await {
        tracing::warn!(dir = %staging, error = %e, "could not remove the staging directory");
    }
    if result.is_err() {
        crate::fresh::discard_fresh(&fresh).await;
    }
    if let Ok(summary) = &mut result {
        summary.maintenance = crate::maintain::run(&maintenance).await;
        if let Some(log) = &task_log {
            let tasks = log.tasks(run_epoch_ms, &writers).await;
            summary.tasks = crate::tasks::reports(tasks, run_epoch_ms);
        }
    }
    let end = match &result {
        Ok(summary) => ledger::LedgerEvent {
            event: ledger::RunEvent::Succeeded,
            summary: serde_json::to_string(summary).ok(),
            ..base
        },
        Err(e) => ledger::LedgerEvent {
            event: ledger::RunEvent::Failed,
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
    if let Err(e) = ledger.record(end).await {
        tracing::warn!(error = %e, "could not record the run's end in the ledger");
    }
    crate::metrics::run_finished(&job, &result, run_started.elapsed());
    result
}

async fn run_stages(
    planned: PlannedJob,
    events: Option<EventSink>,
    run_id: String,
    stop: &StopHandle,
) -> Result<RunSummary> {
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

    // In every engine a stage writes its table's rows as uncommitted files while it runs (on a cluster, on the
    // executors), so a run holds no table in memory until its commit: the commit only adds the files' actions.
    let distributed = planned.engine.is_distributed();
    let (targets, staging) = (
        write_targets(&planned).await?,
        staging_targets(&planned, &run_id).await?,
    );
    let n = dag.stages.len();
    let mut waiting: Vec<usize> = dag.stages.iter().map(|s| s.deps.len()).collect();
    let mut launched = vec![false; n];
    let mut outcomes: Vec<Option<StageOutcome>> = (0..n).map(|_| None).collect();
    // When each stage finished, from the run's start: minus its own time, where its timeline bar begins.
    let mut finished_at = vec![Duration::ZERO; n];
    let mut tasks: JoinSet<(usize, Result<StageOutcome, DataFusionError>)> = JoinSet::new();
    // How many stages execute at once (each runs on every core already): more only adds memory.
    let slots = Arc::new(tokio::sync::Semaphore::new(stage_slots(&planned)));

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
            let planned_stage = &planned.stages[i];
            // A view runs only when it declares expectations: it is checked once, and its readers read the result.
            let plan = planned_stage.run_plan().cloned();
            let feeds = planned_stage.table().cloned();
            // Staged first: a stage with expectations writes its flagged rows there, not to its table.
            // A stage with expectations never writes its table's files itself: its flagged rows are staged, and
            // the commit phase writes the rows that pass.
            let target = staging.get(&i).or_else(|| {
                planned_stage
                    .output()
                    .filter(|_| planned_stage.expectations().is_none())
                    .and_then(|o| targets.get(&o.table))
            });
            // A stage that fails on the cluster runs again (twice at most); embedded, a failure is final.
            let retry = Retry {
                index: i,
                name: stage.name.clone(),
                retries: if distributed { CLUSTER_STAGE_RETRIES } else { 0 },
                events: events.clone(),
                log: planned.task_log.clone(),
            };
            let profile = planned.profile;
            let slots = slots.clone();
            let span = tracing::info_span!("stage", stage = %stage.name, kind = stage.kind());
            match (plan, target) {
                (Some(plan), Some(target)) => {
                    let target = target.clone();
                    tasks.spawn(tracing::Instrument::instrument(
                        async move {
                            let _slot = slots.acquire_owned().await;
                            (
                                i,
                                run_stage_writing_files(ctx, plan, feeds, target, retry, profile).await,
                            )
                        },
                        span,
                    ));
                }
                (plan, _) => {
                    tasks.spawn(tracing::Instrument::instrument(
                        async move {
                            let _slot = match plan {
                                Some(_) => Some(slots.acquire_owned().await),
                                None => None,
                            };
                            (i, run_stage(ctx, plan, feeds, retry, profile).await)
                        },
                        span,
                    ));
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
                finished_at[i] = started.elapsed();
                outcomes[i] = Some(outcome);
            }
            Err(source) => {
                tasks.abort_all();
                let limit = crate::config::StrataOptions::of(planned.ctx.state().config())
                    .map(|o| o.memory_limit.clone())
                    .filter(|l| !l.is_empty());
                let source = match limit {
                    Some(limit) if crate::memory::is_exhausted(&source) => {
                        DataFusionError::Context(crate::memory::explain_exhausted(&limit), Box::new(source))
                    }
                    _ => source,
                };
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

    let finalized = finalize(&planned, &targets, &mut outcomes, &run_id).await?;

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
    stop.begin_commit().map_err(PlannerError::Stopped)?;
    let (outputs, dead_letters) = commit(
        &planned,
        &run_id,
        &targets,
        &mut outcomes,
        &progress,
        finalized.quarantines,
        &emit,
    )
    .await?;
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
            inputs: dag.stages[i].deps.iter().map(|&d| dag.stages[d].name.clone()).collect(),
            started_ms: finished_at[i].saturating_sub(o.elapsed).as_millis(),
            elapsed_ms: o.elapsed.as_millis(),
            profile: o.profile.clone(),
        })
        .collect();
    let summary = RunSummary {
        job: planned.job.path.to_string(),
        run_id,
        stages,
        outputs,
        sources,
        expectations: finalized.expectations,
        mode: planned.mode.name().to_string(),
        ranges: planned.ranges.clone(),
        watermarks: planned.watermarks.clone(),
        maintenance: Vec::new(),
        tasks: Vec::new(),
        elapsed_ms: started.elapsed().as_millis(),
    };
    tracing::info!(job = %summary.job, run_id = %summary.run_id, elapsed_ms = summary.elapsed_ms as u64, "run succeeded");
    Ok(summary)
}

/// How many stages of `planned` may execute at once: `strata.stage_concurrency`, or by default one embedded (a
/// stage's operators already use every core; concurrent stages only hold more in memory at once) and all on a
/// cluster (Ballista schedules their tasks on the executors' slots).
fn stage_slots(planned: &PlannedJob) -> usize {
    let set = crate::config::StrataOptions::of(planned.ctx.state().config()).map_or(0, |o| o.stage_concurrency);
    match (set, planned.engine.is_distributed()) {
        (0, false) => 1,
        (0, true) => tokio::sync::Semaphore::MAX_PERMITS,
        (n, _) => n,
    }
}

/// Execute `plan`, each output partition's batches apart; with `profile`, also the executed physical plan with
/// every operator's metrics (what `EXPLAIN ANALYZE` prints).
async fn execute(
    ctx: &SessionContext,
    plan: LogicalPlan,
    profile: bool,
) -> Result<(Vec<Vec<RecordBatch>>, Option<String>), DataFusionError> {
    let frame = ctx.execute_logical_plan(plan).await?;
    if !profile {
        return Ok((frame.collect_partitioned().await?, None));
    }
    let task = Arc::new(frame.task_ctx());
    let physical = frame.create_physical_plan().await?;
    let partitions = datafusion::physical_plan::collect_partitioned(physical.clone(), task).await?;
    let shown = datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(physical.as_ref())
        .indent(true)
        .to_string();
    Ok((partitions, Some(shown)))
}

async fn run_stage(
    ctx: SessionContext,
    plan: Option<LogicalPlan>,
    feeds: Option<Arc<StageTable>>,
    retry: Retry,
    profile: bool,
) -> Result<StageOutcome, DataFusionError> {
    let started = Instant::now();
    let Some(plan) = plan else {
        return Ok(StageOutcome {
            rows: None,
            elapsed: started.elapsed(),
            batches: Vec::new(),
            adds: Vec::new(),
            schema: None,
            profile: None,
        });
    };
    let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let (partitions, shown) = retry.run(|| execute(&ctx, plan.clone(), profile)).await?;
    let partitions = partitions
        .into_iter()
        .map(|part| part.into_iter().map(|b| conform(b, &schema)).collect())
        .collect::<Result<Vec<Vec<_>>, _>>()?;
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
        profile: shown,
    })
}

/// Where each output table's files go, decided once per table so a table's creating stage and its inserts
/// write alike.
async fn write_targets(planned: &PlannedJob) -> Result<HashMap<String, WriteTarget>> {
    let mut targets = HashMap::new();
    for group in planned.output_groups() {
        let stage = &planned.stages[group.lead];
        let table = group.table;
        let (Some(output), Some(plan)) = (stage.output(), stage.plan()) else {
            continue;
        };
        let replaced = planned.replaces.contains_key(&table);
        if output.sink.is_some() {
            continue;
        }
        let schema: SchemaRef = match stage.expectations() {
            Some(e) => expect::schema_of(&e.keep),
            None => Arc::new(plan.schema().as_arrow().clone()),
        };
        // A range rewrite writes files like the ones it keeps: the table's own schema and partitioning.
        let mode = if replaced { WriteMode::Append } else { output.mode };
        let target = write_target(&output.url, &schema, &output.partition_by, mode)
            .await
            .map_err(|source| PlannerError::Commit {
                table: table.clone(),
                source: Box::new(source),
            })?;
        targets.insert(table, target);
    }
    Ok(targets)
}

/// Which stage writes which location: its output table, and what it stages (a Kafka source's messages, a table's
/// flagged rows) under the run's staging directory. Tells the run's Ballista jobs apart by stage.
fn writers(planned: &PlannedJob, run_id: &str) -> crate::tasks::Writers {
    let mut writers = crate::tasks::Writers::default();
    let name = |i: usize| planned.dag.stages[i].name.as_str();
    let staged = |file: &str| planned.warehouse.join(&format!("{STAGING_DIR}/{run_id}/{file}")).ok();
    for (i, stage) in planned.stages.iter().enumerate() {
        if let Some(output) = stage.output().filter(|o| o.sink.is_none()) {
            writers.add(&output.url, name(i));
        }
        if let Some(url) = stage
            .expectations()
            .and_then(|e| staged(&format!("{}.flagged", e.table)))
        {
            writers.add(&url, name(i));
        }
    }
    for source in &planned.kafka {
        if let Some(url) = staged(&source.name) {
            writers.add(&url, name(source.stage));
        }
    }
    writers
}

/// Where runs stage Kafka messages and flagged rows (uncommitted Parquet files), under the warehouse; removed after
/// the run.
const STAGING_DIR: &str = ".strata-staging";

/// Stages whose rows must be read again write them as staged files (every executor of a cluster can read them): a
/// Kafka source's messages, and a table's rows with their expectation flags.
async fn staging_targets(planned: &PlannedJob, run_id: &str) -> Result<HashMap<usize, WriteTarget>> {
    let mut staged: Vec<(usize, String, &StageTable)> = planned
        .kafka
        .iter()
        .map(|source| (source.stage, source.name.clone(), source.staged.as_ref()))
        .collect();
    for (i, stage) in planned.stages.iter().enumerate() {
        if let Some(e) = stage.expectations() {
            staged.push((i, format!("{}.flagged", e.table), e.raw.as_ref()));
        }
    }
    let mut targets = HashMap::new();
    for (stage, name, table) in staged {
        let url = planned.warehouse.join(&format!("{STAGING_DIR}/{run_id}/{name}"))?;
        let schema = datafusion::catalog::TableProvider::schema(table);
        let target = write_target(&url, &schema, &[], WriteMode::Overwrite)
            .await
            .map_err(|source| PlannerError::Commit {
                table: url.to_string(),
                source: Box::new(source),
            })?;
        targets.insert(stage, target);
    }
    Ok(targets)
}

/// Run a stage as one query whose tasks write the target's files (each output partition its own files). A write
/// the cluster returned incomplete fails the attempt, so it is retried like any other failure.
async fn run_stage_writing_files(
    ctx: SessionContext,
    plan: LogicalPlan,
    feeds: Option<Arc<StageTable>>,
    target: WriteTarget,
    retry: Retry,
    profile: bool,
) -> Result<StageOutcome, DataFusionError> {
    let started = Instant::now();
    let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let write = DeltaWriteNode::new(plan, target.clone())?.into_plan();
    let ((adds, rows), shown) = retry
        .run(|| async {
            let (partitions, shown) = execute(&ctx, write.clone(), profile).await?;
            let batches: Vec<RecordBatch> = partitions.into_iter().flatten().collect();
            Ok((collect_adds(&batches)?, shown))
        })
        .await?;
    if let Some(table) = feeds {
        table.append_files(&target.table_url, &target.partition_columns, &adds)?;
    }
    Ok(StageOutcome {
        rows: Some(rows),
        elapsed: started.elapsed(),
        batches: Vec::new(),
        adds,
        schema: Some(schema),
        profile: shown,
    })
}
