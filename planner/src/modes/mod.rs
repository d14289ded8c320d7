//! Run modes: full refresh, incremental (the default) and backfill.
//!
//! Sources declare an event-time column (`OPTIONS ('event_time' 'ts')`), tables too (`EVENT TIME (col)`). An
//! incremental run reads only source rows newer than the watermark of the job's last successful run; a backfill
//! reads the range it is given. Each table with an event time then rewrites only the range its inputs' changes
//! reach, and reads only the history that range needs: the planner derives both from the stage's plan
//! ([`shape`]) — window frames and indicator periods give rows before and after, translated into times with the
//! table's own rows; a GROUP BY of a time bucket rewrites whole buckets. Recursive indicators (EMA, RSI, OBV…)
//! depend on the whole history, so their stages read all of it but still rewrite only the range. A table's new
//! version is its rows outside the range plus the recomputed range, committed as one Delta commit, so results are
//! those of a full refresh and re-running a range is idempotent.

pub mod shape;
pub mod time;

mod bounds;
mod replace;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, col};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use strata_connectors::delta;
use strata_sql::JobStatement;
use url::Url;

use crate::engine::Engine;
use crate::error::{Result, job_err};
use crate::ledger;
use shape::Shape;
use time::TimeRange;

/// How a run chooses what to recompute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunMode {
    /// Source rows newer than the last successful run's watermarks (everything on a first run).
    #[default]
    Incremental,
    /// Everything, every table replaced.
    FullRefresh,
    /// Source rows with event times in `[from, to]` (microseconds, inclusive), and what they reach downstream.
    Backfill {
        /// The first event time, in microseconds since the epoch (UTC).
        from: i64,
        /// The last event time (inclusive), in microseconds since the epoch (UTC); never before `from`.
        to: i64,
    },
}

impl RunMode {
    /// The mode's name, as [`parse`](Self::parse) takes it: `incremental`, `full-refresh` or `backfill`.
    pub fn name(&self) -> &'static str {
        match self {
            RunMode::Incremental => "incremental",
            RunMode::FullRefresh => "full-refresh",
            RunMode::Backfill { .. } => "backfill",
        }
    }

    /// The mode as the ledger records it: `backfill` with its two ends.
    pub fn describe(&self) -> String {
        match self {
            RunMode::Backfill { from, to } => {
                format!("backfill {} {}", time::format_micros(*from), time::format_micros(*to))
            }
            other => other.name().to_string(),
        }
    }

    /// `incremental`, `full-refresh`, or `backfill` with its two ends (`YYYY-MM-DD` or RFC 3339).
    pub fn parse(mode: &str, from: &str, to: &str) -> std::result::Result<RunMode, String> {
        match mode {
            "" | "incremental" => Ok(RunMode::Incremental),
            "full-refresh" => Ok(RunMode::FullRefresh),
            "backfill" => {
                let from = time::parse_time(from, false)
                    .ok_or_else(|| format!("backfill start '{from}' is not YYYY-MM-DD or an RFC 3339 time"))?;
                let to = time::parse_time(to, true)
                    .ok_or_else(|| format!("backfill end '{to}' is not YYYY-MM-DD or an RFC 3339 time"))?;
                if to < from {
                    return Err("the backfill ends before it starts".into());
                }
                Ok(RunMode::Backfill { from, to })
            }
            other => Err(format!("unknown run mode '{other}'")),
        }
    }
}

/// What changed in a table this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Changed {
    Nothing,
    Range(TimeRange),
}

/// What a run did with one table with an event time, for the run summary and the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct RangeReport {
    /// The table's name.
    pub table: String,
    /// `rewritten`, `unchanged` or `whole`.
    pub action: &'static str,
    /// The event-time range rewritten.
    pub range: String,
    /// The history read for it.
    pub read: String,
    /// Why a table was recomputed whole, or the lookback derived.
    pub reason: String,
}

/// What a table with an event time computes this run.
pub(crate) struct TablePlan {
    /// The rows recomputed (the rewritten range, or everything).
    pub recomputed: LogicalPlan,
    /// Committed rows written again as they are: those outside the range of the files the range touches.
    pub kept: Option<LogicalPlan>,
    /// Committed rows left in place (untouched files): not written, but part of what readers see.
    pub untouched: Option<LogicalPlan>,
}

impl TablePlan {
    /// Everything recomputed.
    pub fn whole(plan: LogicalPlan) -> Self {
        TablePlan {
            recomputed: plan,
            kept: None,
            untouched: None,
        }
    }

    /// Nothing recomputed: the committed rows are what readers see.
    fn unchanged(plan: LogicalPlan, existing: LogicalPlan) -> Result<Self> {
        Ok(TablePlan {
            recomputed: LogicalPlanBuilder::from(plan)
                .filter(datafusion::logical_expr::lit(false))?
                .build()?,
            kept: Some(existing),
            untouched: None,
        })
    }

    /// `rows` (the recomputed ones, or what passes their expectations) plus the kept ones: what the commit writes.
    pub fn written(rows: LogicalPlan, kept: Option<LogicalPlan>) -> Result<LogicalPlan> {
        Ok(match kept {
            Some(kept) => LogicalPlanBuilder::from(rows).union(kept)?.build()?,
            None => rows,
        })
    }
}

/// Planning state of a run's mode: what changed in every table planned so far.
pub(crate) struct Modes {
    mode: RunMode,
    /// Where the run executes: it decides how committed rows are read.
    engine: Engine,
    /// The job and the ledger that holds its last successful run.
    job: String,
    ledger: ledger::Ledger,
    /// That run's watermarks, read from the ledger when the first event-time source is planned (`Some(None)`: no
    /// such run, or a full refresh).
    previous: Option<Option<BTreeMap<String, i64>>>,
    changed: HashMap<String, Changed>,
    /// Event-time column of every table that has one.
    events: HashMap<String, String>,
    pub watermarks: BTreeMap<String, i64>,
    pub reports: Vec<RangeReport>,
    /// Tables whose rows are all kept as they are: not committed.
    pub unchanged: HashSet<String>,
    /// Tables rewritten in a range: the files each one's commit replaces.
    pub replaces: HashMap<String, strata_connectors::delta::replace::Replace>,
}

impl Modes {
    pub fn new(mode: RunMode, job: &str, ledger: ledger::Ledger, engine: Engine) -> Self {
        Self {
            mode,
            engine,
            job: job.to_string(),
            ledger,
            previous: None,
            changed: HashMap::new(),
            events: HashMap::new(),
            watermarks: BTreeMap::new(),
            reports: Vec::new(),
            unchanged: HashSet::new(),
            replaces: HashMap::new(),
        }
    }

    pub fn mode(&self) -> RunMode {
        self.mode
    }

    /// A source with an event-time column: record its watermark and what this run reads of it. `hint`: the
    /// latest event time the source's statistics give (Delta's log), which narrows the scan for the exact one;
    /// `lateness`: how far below the last watermark an incremental run reads again (microseconds).
    #[allow(clippy::too_many_arguments)]
    pub async fn source(
        &mut self,
        ctx: &SessionContext,
        stmt: &JobStatement,
        name: &str,
        provider: Arc<dyn TableProvider>,
        column: &str,
        hint: Option<i64>,
        lateness: Option<i64>,
    ) -> Result<()> {
        event_type(&provider.schema(), column, name).map_err(|m| job_err(stmt, m))?;
        let current = bounds::max_time(ctx, provider, column, hint).await?;
        if self.previous.is_none() {
            self.previous = Some(match self.mode {
                RunMode::FullRefresh => None,
                _ => last_watermarks(&self.ledger, &self.job).await?,
            });
        }
        let last_run = self.previous.as_ref().and_then(Option::as_ref);
        let previous = last_run.and_then(|p| p.get(name).copied());
        let changed = match self.mode {
            RunMode::FullRefresh => Changed::Range(TimeRange::ALL),
            RunMode::Backfill { from, to } => Changed::Range(TimeRange {
                lo: Some(from),
                hi: Some(to),
            }),
            // With a lateness, the window below the watermark is read again every run: a late row there changes
            // the tables even when nothing newer arrived.
            RunMode::Incremental => match (last_run.is_some(), previous, current) {
                (true, Some(seen), _) if lateness.is_some_and(|l| l > 0) => Changed::Range(TimeRange {
                    lo: Some(seen.saturating_add(1).saturating_sub(lateness.unwrap_or(0))),
                    hi: None,
                }),
                (true, Some(seen), Some(now)) if now <= seen => Changed::Nothing,
                (true, Some(seen), _) => Changed::Range(TimeRange {
                    lo: Some(seen + 1),
                    hi: None,
                }),
                _ => Changed::Range(TimeRange::ALL),
            },
        };
        // A backfill leaves the watermark where it was: rows above it are still the next incremental run's.
        let watermark = match self.mode {
            RunMode::Backfill { .. } => previous,
            _ => current.or(previous),
        };
        if let Some(w) = watermark {
            self.watermarks.insert(name.to_string(), w);
        }
        self.changed.insert(name.to_string(), changed);
        self.events.insert(name.to_string(), column.to_string());
        Ok(())
    }

    /// A table without an event time (or an insert target): recomputed whole every run.
    pub fn whole(&mut self, name: &str) {
        self.changed.insert(name.to_string(), Changed::Range(TimeRange::ALL));
    }

    /// A table with an event time: rewrite `plan` so that it reads only what the changed range needs and yields the
    /// rows the table's commit writes: the recomputed range, plus the rows to keep of the files that range touches
    /// (all of the table's rows when it is rewritten whole).
    #[allow(clippy::too_many_arguments)]
    pub async fn table(
        &mut self,
        ctx: &SessionContext,
        stmt: &JobStatement,
        name: &str,
        column: &str,
        plan: LogicalPlan,
        url: &Url,
        partition_by: &[String],
    ) -> Result<TablePlan> {
        let ty = event_type(plan.schema().as_arrow(), column, name).map_err(|m| job_err(stmt, m))?;
        self.events.insert(name.to_string(), column.to_string());
        let scanned = scanned_tables(&plan);
        let events: HashSet<String> = scanned.iter().filter_map(|t| self.events.get(t)).cloned().collect();
        if events.is_empty() {
            return Err(job_err(
                stmt,
                format!(
                    "'{name}' declares EVENT TIME ({column}) but none of the tables it reads declares an event time"
                ),
            ));
        }
        // Every input's change counts, including tables without an event time (recomputed whole each run).
        let changed = scanned
            .iter()
            .filter_map(|t| self.changed.get(t))
            .fold(Changed::Nothing, |acc, c| match (acc, c) {
                (Changed::Nothing, c) => *c,
                (a, Changed::Nothing) => a,
                (Changed::Range(a), Changed::Range(b)) => Changed::Range(a.hull(*b)),
            });
        let report = |action, range: TimeRange, read: TimeRange, reason: String| RangeReport {
            table: name.to_string(),
            action,
            range: range.describe(),
            read: read.describe(),
            reason,
        };
        let existing = match (self.mode, changed) {
            (RunMode::FullRefresh, _) | (_, Changed::Range(TimeRange::ALL)) => None,
            _ => existing_plan(ctx, url, &plan, &self.engine).await?,
        };
        let Some((table, existing)) = existing else {
            self.changed.insert(name.to_string(), Changed::Range(TimeRange::ALL));
            let why = match self.mode {
                RunMode::FullRefresh => "full refresh",
                _ if changed == Changed::Range(TimeRange::ALL) => "its inputs were recomputed whole",
                _ => "no committed version with these columns yet",
            };
            self.reports
                .push(report("whole", TimeRange::ALL, TimeRange::ALL, why.into()));
            return Ok(TablePlan::whole(plan));
        };
        let Changed::Range(input) = changed else {
            self.changed.insert(name.to_string(), Changed::Nothing);
            self.unchanged.insert(name.to_string());
            self.reports.push(RangeReport {
                table: name.to_string(),
                action: "unchanged",
                range: "-".into(),
                read: "-".into(),
                reason: "no new input".into(),
            });
            return TablePlan::unchanged(plan, existing);
        };
        let shape = shape::shape(&plan, &events);
        let (write, read, reason) = match &shape {
            Shape::Whole(why) => (TimeRange::ALL, TimeRange::ALL, why.clone()),
            Shape::Buckets => {
                let write = bounds::bucket_range(ctx, &existing, column, input).await?;
                (write, write, "whole buckets".into())
            }
            Shape::Rows {
                before,
                after,
                partition,
            } => {
                // Rows are counted per partition, so only when the table has the partition columns.
                let countable = partition
                    .iter()
                    .all(|p| existing.schema().has_column_with_unqualified_name(p));
                let (before, after) = if countable { (*before, *after) } else { (None, None) };
                let rows = bounds::Rows {
                    ctx,
                    table: &existing,
                    column,
                    partition,
                };
                let write = TimeRange {
                    lo: match (input.lo, after) {
                        (Some(lo), Some(n)) => rows.before(lo, n).await?,
                        _ => None,
                    },
                    hi: match (input.hi, before) {
                        (Some(hi), Some(n)) => rows.after(hi, n).await?,
                        _ => None,
                    },
                }
                .snapped(&ty);
                let read = TimeRange {
                    lo: match (write.lo, before) {
                        (Some(lo), Some(n)) => rows.before(lo, n).await?,
                        _ => None,
                    },
                    hi: match (write.hi, after) {
                        (Some(hi), Some(n)) => rows.after(hi, n).await?,
                        _ => None,
                    },
                };
                let count = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "all".into());
                (
                    write,
                    read,
                    format!("{} rows before, {} after", count(before), count(after)),
                )
            }
        };
        self.changed.insert(name.to_string(), Changed::Range(write));
        if write.is_all() {
            self.reports.push(report("whole", write, read, reason));
            return Ok(TablePlan::whole(plan));
        }
        self.reports.push(report("rewritten", write, read, reason));
        let plan = filter_scans(plan, &self.events, read)?;
        let output = output_column(&plan, column)?;
        let recomputed = LogicalPlanBuilder::from(plan)
            .filter(output.clone().is_null().or(time::within(output, write, &ty)?))?
            .build()?;
        // Only the touched files are read back and replaced, when the output fits the table's files as they are.
        // No side without files: an empty scan in a UNION trips Ballista's per-task metrics on a cluster.
        let scan = |files: strata_connectors::delta::files::DeltaFiles| match files.files.is_empty() {
            true => Ok(None),
            false => committed_scan(Arc::new(files), &recomputed, url),
        };
        let (kept, untouched) = match replace::touched(&table, column, write, &recomputed, partition_by)? {
            Some(split) => {
                self.replaces.insert(name.to_string(), split.replace);
                (scan(split.touched)?, scan(split.untouched)?)
            }
            None => (Some(existing), None),
        };
        let kept = match kept {
            Some(kept) => {
                let kept_column = output_column(&kept, column)?;
                let outside = kept_column
                    .clone()
                    .is_not_null()
                    .and(datafusion::logical_expr::not(time::within(kept_column, write, &ty)?));
                Some(LogicalPlanBuilder::from(kept).filter(outside)?.build()?)
            }
            None => None,
        };
        Ok(TablePlan {
            recomputed,
            kept,
            untouched,
        })
    }
}

/// The type of `table`'s event-time column, which must be a DATE or a TIMESTAMP.
fn event_type(
    schema: &datafusion::arrow::datatypes::Schema,
    column: &str,
    table: &str,
) -> std::result::Result<datafusion::arrow::datatypes::DataType, String> {
    match schema.field_with_name(column) {
        Ok(f) if time::is_time_type(f.data_type()) => Ok(f.data_type().clone()),
        Ok(f) => Err(format!(
            "event-time column '{column}' of '{table}' is {}, not a DATE or TIMESTAMP",
            f.data_type()
        )),
        Err(_) => Err(format!("event-time column '{column}' is not a column of '{table}'")),
    }
}

/// The job's watermarks at its last successful run, from the ledger.
async fn last_watermarks(ledger: &ledger::Ledger, job: &str) -> Result<Option<BTreeMap<String, i64>>> {
    let canonical = |p: &str| std::fs::canonicalize(p).ok();
    let this = canonical(job);
    let runs = ledger.runs().await?;
    let last = runs
        .iter()
        .rev()
        .filter(|r| r.state == ledger::RunState::Succeeded)
        .find(|r| r.job == job || (this.is_some() && canonical(&r.job) == this));
    Ok(last.map(|run| {
        run.summary
            .as_ref()
            .and_then(|s| s.get("watermarks"))
            .and_then(|w| serde_json::from_value(w.clone()).ok())
            .unwrap_or_default()
    }))
}

/// The tables `plan` scans (views are inlined in a bound plan).
fn scanned_tables(plan: &LogicalPlan) -> Vec<String> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            out.push(scan.table_name.to_string());
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    out
}

/// Read only `range` (and rows without an event time) of every table with an event time.
fn filter_scans(plan: LogicalPlan, events: &HashMap<String, String>, range: TimeRange) -> Result<LogicalPlan> {
    if range.is_all() {
        return Ok(plan);
    }
    let rewritten = plan.transform_up(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let Some(column) = events.get(&scan.table_name.to_string()) else {
            return Ok(Transformed::no(node));
        };
        let Ok(field) = scan.projected_schema.as_arrow().field_with_name(column) else {
            return Ok(Transformed::no(node));
        };
        let ty = field.data_type().clone();
        let column = Expr::Column(Column::new(Some(scan.table_name.clone()), column.clone()));
        let predicate = column.clone().is_null().or(time::within(column, range, &ty)?);
        Ok(Transformed::yes(
            LogicalPlanBuilder::from(node).filter(predicate)?.build()?,
        ))
    })?;
    Ok(rewritten.data)
}

fn output_column(plan: &LogicalPlan, name: &str) -> Result<Expr> {
    let (qualifier, field) = plan.schema().qualified_field_with_unqualified_name(name)?;
    Ok(Expr::Column(Column::new(qualifier.cloned(), field.name())))
}

/// The table and its committed rows, cast to `plan`'s columns; `None` when it has no version or lacks a column.
pub(crate) async fn existing_plan(
    ctx: &SessionContext,
    url: &Url,
    plan: &LogicalPlan,
    engine: &Engine,
) -> Result<Option<(deltalake::DeltaTable, LogicalPlan)>> {
    let table = match delta::open(url).await {
        Ok(t) => t,
        Err(strata_connectors::ConnectorError::Missing { .. } | strata_connectors::ConnectorError::NotDelta { .. }) => {
            return Ok(None);
        }
        Err(e) => return Err(DataFusionError::from(e).into()),
    };
    let provider = engine
        .delta_provider(&table, ctx)
        .await
        .map_err(DataFusionError::from)?;
    Ok(committed_scan(provider, plan, url)?.map(|scan| (table, scan)))
}

/// A scan of committed rows of the table at `url`, cast to `plan`'s columns; `None` when a column is missing.
fn committed_scan(provider: Arc<dyn TableProvider>, plan: &LogicalPlan, url: &Url) -> Result<Option<LogicalPlan>> {
    let existing_schema = provider.schema();
    let mut exprs = Vec::with_capacity(plan.schema().fields().len());
    for field in plan.schema().fields() {
        if existing_schema.field_with_name(field.name()).is_err() {
            return Ok(None);
        }
        exprs.push(cast(col(Column::new_unqualified(field.name())), field.data_type().clone()).alias(field.name()));
    }
    // Plain characters only: the name travels in plans sent to the cluster, where a dot would read as a schema.
    let name: String = url
        .path()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let reference = TableReference::bare(format!("__strata_committed{name}"));
    let scan = LogicalPlanBuilder::scan(reference, provider_as_source(provider), None)?
        .project(exprs)?
        .build()?;
    Ok(Some(scan))
}
