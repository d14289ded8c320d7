//! Expectations: named data-quality rules on a table stage's rows (`CONSTRAINT name EXPECT (condition) ON VIOLATION
//! …`). A row violates a rule when its condition is false or NULL.
//!
//! The stage's query runs once, with one violation flag per rule, into a staged table (memory on the embedded
//! engine, Parquet files on a cluster). Everything else reads that staged result, so every count and split agrees
//! with the rows committed: downstream stages and the table's commit see the rows that pass the `DROP ROW` and
//! `QUARANTINE` rules; the quarantine table (`<table>_quarantine`) receives the rows that fail a `QUARANTINE` rule,
//! with the names of the rules they fail and the run id; every rule's violations are counted; a `FAIL` rule with any
//! violation stops the run before anything is committed.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::functions::expr_fn::{coalesce, concat_ws};
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, col, lit, not, when};
use datafusion::prelude::{DataFrame, SessionContext};
use strata_connectors::delta::WriteMode;
use strata_connectors::location;
use strata_connectors::stage::StageTable;
use strata_sql::{Expectation, JobStatement, SourceLocation, ViolationAction};

use crate::error::{PlannerError, Result, df_err, job_err};
use crate::output::Output;
use crate::report::ExpectationReport;

/// Column holding, in the quarantine table, the rules a row failed (comma-separated).
pub const RULES_COLUMN: &str = "_expectations";
/// Column holding, in the quarantine table, the run that quarantined the row.
pub const RUN_COLUMN: &str = "_run_id";

fn flag(i: usize) -> String {
    format!("__strata_violates_{i}")
}

/// One planned rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub action: ViolationAction,
    pub location: SourceLocation,
}

/// A table stage's expectations, planned.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub table: String,
    pub rules: Vec<Rule>,
    /// The stage's rows with one violation flag per rule.
    pub raw: Arc<StageTable>,
    /// The rows that stay (the table's contents), over `raw`.
    pub keep: LogicalPlan,
    /// The rows to quarantine with the rules they fail, over `raw` (the run id is added when the run knows it).
    pub quarantine: Option<(LogicalPlan, Output)>,
    /// One row: each rule's violation count, over `raw`.
    pub counts: LogicalPlan,
}

/// Plan `rules` over a table stage's query: returns the query with the violation flags and the derived plans.
pub fn plan(
    ctx: &SessionContext,
    stmt: &JobStatement,
    query: LogicalPlan,
    rules: &[Expectation],
    table: &str,
    warehouse: &strata_connectors::location::Warehouse,
    params: &crate::params::Params,
) -> Result<(LogicalPlan, Expectations)> {
    let columns: Vec<String> = query.schema().fields().iter().map(|f| f.name().clone()).collect();
    let frame = DataFrame::new(ctx.state(), query.clone());
    let mut exprs: Vec<Expr> = columns
        .iter()
        .map(|c| col(datafusion::common::Column::from_name(c)))
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        let condition = frame
            .parse_sql_expr(&rule.condition.to_string())
            .map_err(|e| match df_err(stmt, e) {
                PlannerError::Job { message, .. } => PlannerError::Job {
                    location: rule.location.clone(),
                    message: format!("expectation '{}': {message}", rule.name),
                },
                other => other,
            })?;
        exprs.push(not(coalesce(vec![cast(condition, DataType::Boolean), lit(false)])).alias(flag(i)));
    }
    let flagged = LogicalPlanBuilder::from(query)
        .project(exprs)
        .map_err(|e| df_err(stmt, e))?
        .build()?;
    // Parameters in conditions (`${month_start}`) are bound like the query's own.
    let flagged = crate::params::bind(flagged, stmt, params)?;
    let raw = Arc::new(StageTable::new(Arc::new(flagged.schema().as_arrow().clone())));
    let scan = || LogicalPlanBuilder::scan(table, provider_as_source(raw.clone()), None);
    let cols = || {
        columns
            .iter()
            .map(|c| col(datafusion::common::Column::from_name(c)))
            .collect::<Vec<_>>()
    };
    let violated = |wanted: &dyn Fn(ViolationAction) -> bool| {
        rules
            .iter()
            .enumerate()
            .filter(|(_, r)| wanted(r.action))
            .map(|(i, _)| col(flag(i)))
            .reduce(Expr::or)
    };
    let removing = violated(&|a| matches!(a, ViolationAction::Drop | ViolationAction::Quarantine));
    let keep = match &removing {
        Some(removed) => scan()?.filter(not(removed.clone()))?.project(cols())?.build()?,
        None => scan()?.project(cols())?.build()?,
    };
    let quarantine = match violated(&|a| a == ViolationAction::Quarantine) {
        Some(quarantined) => {
            let names: Vec<Expr> = rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.action == ViolationAction::Quarantine)
                .map(|(i, r)| when(col(flag(i)), lit(r.name.clone())).end())
                .collect::<Result<_, DataFusionError>>()?;
            let mut out = cols();
            out.push(concat_ws(lit(","), names).alias(RULES_COLUMN));
            let plan = scan()?.filter(quarantined)?.project(out)?.build()?;
            let name = format!("{table}_quarantine");
            let url = location::warehouse_table(&name, warehouse).map_err(|e| job_err(stmt, e))?;
            let output = Output {
                table: name,
                url,
                partition_by: Vec::new(),
                mode: WriteMode::Append,
                sink: None,
            };
            Some((plan, output))
        }
        None => None,
    };
    let counts = scan()?
        .aggregate(
            Vec::<Expr>::new(),
            (0..rules.len())
                .map(|i| sum(cast(col(flag(i)), DataType::Int64)).alias(flag(i)))
                .collect::<Vec<_>>(),
        )?
        .build()?;
    let planned = Expectations {
        table: table.to_string(),
        rules: rules
            .iter()
            .map(|r| Rule {
                name: r.name.clone(),
                action: r.action,
                location: r.location.clone(),
            })
            .collect(),
        raw,
        keep,
        quarantine,
        counts,
    };
    Ok((flagged, planned))
}

/// Each rule's violations, from the staged rows.
pub async fn count(ctx: &SessionContext, e: &Expectations) -> Result<Vec<ExpectationReport>> {
    let batches: Vec<RecordBatch> = ctx.execute_logical_plan(e.counts.clone()).await?.collect().await?;
    let mut reports = Vec::with_capacity(e.rules.len());
    for (i, rule) in e.rules.iter().enumerate() {
        let violations = batches
            .iter()
            .filter_map(|b| b.column_by_name(&flag(i)))
            .filter_map(|c| datafusion::arrow::compute::cast(c, &DataType::Int64).ok())
            .filter_map(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
            .map(|a| {
                if a.is_empty() || a.is_null(0) {
                    0
                } else {
                    a.value(0) as u64
                }
            })
            .sum();
        reports.push(ExpectationReport {
            table: e.table.clone(),
            rule: rule.name.clone(),
            action: rule.action.name(),
            violations,
        });
    }
    Ok(reports)
}

/// The quarantine plan with this run's id.
pub fn quarantine_plan(plan: &LogicalPlan, run_id: &str) -> Result<LogicalPlan> {
    let mut exprs: Vec<Expr> = plan
        .schema()
        .fields()
        .iter()
        .map(|f| col(datafusion::common::Column::from_name(f.name())))
        .collect();
    exprs.push(lit(run_id.to_string()).alias(RUN_COLUMN));
    Ok(LogicalPlanBuilder::from(plan.clone()).project(exprs)?.build()?)
}

/// `plan` (quarantined rows with their rules) without the rows the quarantine table at `url` already holds with the
/// same values and rules, NULLs matching NULLs: re-running a range, or a job on input it has seen, quarantines
/// nothing twice (the first run's id stays on the row).
pub async fn not_yet_quarantined(
    ctx: &SessionContext,
    plan: LogicalPlan,
    url: &url::Url,
    engine: &crate::engine::Engine,
) -> Result<LogicalPlan> {
    use datafusion::common::{JoinType, NullEquality};
    // The quarantine's rows cast to `plan`'s columns; none yet, or another layout: nothing to compare with.
    let Some((_, quarantined)) = crate::modes::existing_plan(ctx, url, &plan, engine).await? else {
        return Ok(plan);
    };
    // Qualified apart from the new rows: both sides have the same column names.
    let quarantined = LogicalPlanBuilder::from(quarantined)
        .alias("__strata_quarantined")?
        .build()?;
    let left = plan.schema().columns();
    let right = quarantined.schema().columns();
    Ok(LogicalPlanBuilder::from(plan)
        .join_detailed(
            quarantined,
            JoinType::LeftAnti,
            (left, right),
            None,
            NullEquality::NullEqualsNull,
        )?
        .build()?)
}

/// The schema of a plan, as Arrow.
pub fn schema_of(plan: &LogicalPlan) -> SchemaRef {
    Arc::new(plan.schema().as_arrow().clone())
}

/// Run `plan`: on a cluster into `target`'s files (returning their actions), else into memory.
pub async fn materialize(
    ctx: &SessionContext,
    plan: LogicalPlan,
    target: Option<&strata_connectors::delta::write_exec::WriteTarget>,
) -> Result<(Vec<RecordBatch>, Vec<deltalake::kernel::Add>, u64)> {
    use strata_connectors::delta::{write_exec::DeltaWriteNode, write_result::collect_adds};
    match target {
        Some(target) => {
            let write = DeltaWriteNode::new(plan, target.clone())?.into_plan();
            let batches = ctx.execute_logical_plan(write).await?.collect().await?;
            let (adds, rows) = collect_adds(&batches)?;
            Ok((Vec::new(), adds, rows))
        }
        None => {
            let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
            let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            Ok((batches, Vec::new(), rows))
        }
    }
}
