//! Running a planned job: stages run as soon as their inputs are ready (independent stages concurrently), and
//! only when every stage has succeeded are the output tables committed, one Delta commit per table (tables are
//! written concurrently). A failure in any stage therefore leaves every output at its previous version.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use strata_connectors::delta::{self, WriteMode};
use strata_sql::StatementKind;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::{PlannerError, Result};
use crate::plan::PlannedJob;
use crate::report::{EventSink, JobEvent, OutputReport, RunSummary, StageReport};
use strata_connectors::stage::StageTable;

/// What one stage produced.
struct StageOutcome {
    rows: Option<u64>,
    elapsed: Duration,
    /// Rows to commit (tables and inserts).
    batches: Vec<RecordBatch>,
    schema: Option<SchemaRef>,
}

/// Run every stage, then commit. `events` receives progress.
pub async fn run(planned: PlannedJob, events: Option<EventSink>) -> Result<RunSummary> {
    let started = Instant::now();
    let run_id = uuid::Uuid::new_v4().to_string();
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
            tasks.spawn(async move { (i, run_stage(ctx, plan.filter(|_| materializes), feeds).await) });
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

    let outputs = commit(&planned, &mut outcomes, &emit).await?;
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
        schema: Some(schema),
    })
}

/// Commit every output table: one Delta commit per table, tables in topological order.
async fn commit(
    planned: &PlannedJob,
    outcomes: &mut [Option<StageOutcome>],
    emit: &impl Fn(JobEvent),
) -> Result<Vec<OutputReport>> {
    // Group stage outputs by target table, keeping the order in which tables first appear.
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for &i in &planned.dag.order {
        if let Some(out) = &planned.stages[i].output {
            if !groups.contains_key(&out.table) {
                order.push(out.table.clone());
            }
            groups.entry(out.table.clone()).or_default().push(i);
        }
    }
    emit(JobEvent::Committing { tables: order.len() });

    // Collect each table's rows, then write the tables concurrently (bounded by the cores): each write encodes
    // Parquet, which is CPU work, and the tables are independent. Every table still gets exactly one commit.
    let mut writes = Vec::with_capacity(order.len());
    for table in order {
        let members = &groups[&table];
        // A CREATE TABLE replaces the table (and carries the rows inserted into it); inserts alone append.
        let lead = members
            .iter()
            .copied()
            .find(|&i| {
                planned.stages[i]
                    .output
                    .as_ref()
                    .is_some_and(|o| o.mode == WriteMode::Overwrite)
            })
            .unwrap_or(members[0]);
        let Some(output) = planned.stages[lead].output.clone() else {
            continue;
        };
        let mut schema = None;
        let mut batches = Vec::new();
        for &i in members {
            if let Some(o) = outcomes[i].as_mut() {
                schema = schema.or(o.schema.clone());
                batches.append(&mut o.batches);
            }
        }
        if let Some(schema) = schema {
            writes.push((table, output, schema, batches));
        }
    }
    let slots = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    ));
    let mut tasks = JoinSet::new();
    for (position, (table, output, schema, batches)) in writes.into_iter().enumerate() {
        let slots = slots.clone();
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let result = delta::write(&output.url, schema, batches, &output.partition_by, output.mode).await;
            (position, table, output, result)
        });
    }
    let mut done = Vec::new();
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
    }
    done.sort_by_key(|(position, ..)| *position);
    let reports = done
        .into_iter()
        .map(|(_, table, output, outcome)| OutputReport {
            table,
            location: output.url.to_string(),
            version: outcome.version,
            rows_written: outcome.rows,
            mode: match output.mode {
                WriteMode::Overwrite => "overwrite",
                WriteMode::Append => "append",
            },
        })
        .collect();
    Ok(reports)
}
