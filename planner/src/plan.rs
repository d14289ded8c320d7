//! Planning: every stage of a job becomes a bound DataFusion logical plan before anything runs, so that unknown
//! tables, functions, columns, type errors and missing parameters are all reported up front. Stages are planned in
//! DAG order, each by the method for its kind of statement; sources are declared by their connector's module
//! (`crate::declare`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use strata_connectors::location::Warehouse;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CreateExternalTable, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{Ident, Query, Statement};
use strata_connectors::delta::WriteMode;
use strata_connectors::delta::replace::Replace;
use strata_connectors::location;
use strata_connectors::metered::{MeteredTable, Reader};
use strata_connectors::stage::StageTable;
use strata_sql::{Expectation, JobFile, JobStatement, MergeSpec, SourceLocation, StatementKind};

use crate::config::{Failpoint, StrataOptions};
use crate::dag::StageDag;
use crate::declare::format::SourceFormat;
use crate::declare::{self, Declaring};
use crate::engine::Engine;
use crate::error::{PlannerError, Result, df_err, job_err};
use crate::expect;
use crate::insert::{conform, insert_target};
use crate::kafka::{self, KafkaSource};
use crate::ledger::Ledger;
use crate::merge::plan_merge;
use crate::modes::{Modes, RangeReport, RunMode, TablePlan};
use crate::output::{Output, Sink};
use crate::params::{Params, bind};
use crate::stage::PlannedStage;

/// A job whose every stage planned successfully.
pub struct PlannedJob {
    /// The parsed job file.
    pub job: JobFile,
    /// Its stages and the order they run in.
    pub dag: StageDag,
    /// The session the stages were planned in and run in (on a cluster: a client of the scheduler).
    pub ctx: SessionContext,
    pub(crate) stages: Vec<PlannedStage>,
    /// Where the stages execute.
    pub engine: Engine,
    /// The Kafka topics the job reads, with this run's ranges.
    pub(crate) kafka: Vec<KafkaSource>,
    /// The warehouse (cluster runs stage Kafka messages under it; the run ledger lives in it).
    pub warehouse: Warehouse,
    /// The job's parameters, by name.
    pub params: Vec<(String, String)>,
    /// Where the run is recorded.
    pub ledger: Ledger,
    /// How this run chose what to recompute.
    pub mode: RunMode,
    /// Each event-time source's latest event time (recorded in the ledger on success).
    pub watermarks: BTreeMap<String, i64>,
    /// What the run rewrites of each table with an event time.
    pub ranges: Vec<RangeReport>,
    /// Tables whose rows all stay as they are: not committed.
    pub(crate) unchanged: HashSet<String>,
    /// Tables rewritten in a range: the files each commit replaces.
    pub(crate) replaces: HashMap<String, Replace>,
    /// Where a crash test aborts the commit phase (`strata.failpoint`).
    pub(crate) failpoint: Option<Failpoint>,
    /// Keep each stage's physical plan with its operators' metrics (rows, time, memory, spills) in the run's
    /// [`StageReport`](crate::report::StageReport)s: `strata run --profile`.
    pub profile: bool,
    /// The job's `--! optimize` / `--! vacuum` directives, after the commits.
    pub(crate) maintenance: Vec<crate::maintain::PlannedMaintenance>,
    /// What started the run when it is not its own schedule or a person (`after ingest.sql run <id>`): recorded
    /// in the ledger with its mode.
    pub trigger: Option<String>,
    /// Where the run finds its tasks when it ends (the scheduler's job service sets it): see [`crate::tasks`].
    pub task_log: Option<std::sync::Arc<dyn crate::tasks::TaskLog>>,
}

/// An output table and the stages that write it.
pub(crate) struct OutputGroup {
    pub table: String,
    /// The stages writing it, in run order.
    pub members: Vec<usize>,
    /// The stage whose output decides how the table is written.
    pub lead: usize,
}

impl PlannedJob {
    /// Output tables in the order they first appear, each with the stages that write it. A CREATE TABLE leads
    /// (it replaces the table and carries the rows inserted into it); inserts alone append, led by the first.
    pub(crate) fn output_groups(&self) -> Vec<OutputGroup> {
        let mut groups: Vec<OutputGroup> = Vec::new();
        for &i in &self.dag.order {
            let Some(out) = self.stages[i].output() else {
                continue;
            };
            match groups.iter_mut().find(|g| g.table == out.table) {
                Some(group) => group.members.push(i),
                None => groups.push(OutputGroup {
                    table: out.table.clone(),
                    members: vec![i],
                    lead: i,
                }),
            }
        }
        for group in &mut groups {
            let overwrites = |i: &usize| self.stages[*i].output().is_some_and(|o| o.mode == WriteMode::Overwrite);
            group.lead = group
                .members
                .iter()
                .copied()
                .find(overwrites)
                .unwrap_or(group.members[0]);
        }
        groups
    }
}

/// Parse-free part of planning: `job` is already parsed. Plans for the embedded engine.
pub async fn plan_job(job: JobFile, options: StrataOptions, params: &Params) -> Result<PlannedJob> {
    plan_job_with(job, options, params, Engine::Embedded, RunMode::default()).await
}

/// Plan `job` to run on `engine`.
pub async fn plan_job_with(
    job: JobFile,
    options: StrataOptions,
    params: &Params,
    engine: Engine,
    mode: RunMode,
) -> Result<PlannedJob> {
    plan_job_confined(job, options, params, engine, mode, None).await
}

/// [`plan_job_with`], refusing (as a planning error naming the statement) any location outside `confinement`:
/// how a scheduler plans the jobs others submit.
pub async fn plan_job_confined(
    job: JobFile,
    options: StrataOptions,
    params: &Params,
    engine: Engine,
    mode: RunMode,
    confinement: Option<crate::confine::Confinement>,
) -> Result<PlannedJob> {
    // A confinement that allows anything (`*`) confines nothing: the job is planned as its owner's.
    let confinement = confinement.filter(|c| !c.allows_anything());
    let dag = StageDag::build(&job)?;
    kafka::feeds::check(&dag)?;
    check_parameters(&job, params)?;
    let warehouse: Warehouse = options.warehouse()?;
    let ledger = Ledger::open(&warehouse, &options.ledger)?;
    let modes = Modes::new(mode, &job.path, ledger.clone(), engine.clone());
    let kafka_brokers = options.kafka_brokers.clone();
    let failpoint = Failpoint::parse(&options.failpoint);
    let ctx = engine.context(options).await?;
    register_schemas(&ctx, &job)?;

    let mut planner = Planner {
        declaring: Declaring {
            ctx: &ctx,
            dag: &dag,
            job_path: &job.path,
            warehouse: &warehouse,
            kafka_brokers: &kafka_brokers,
            engine: &engine,
            confinement: confinement.as_ref(),
        },
        params,
        modes,
        stages: vec![None; dag.stages.len()],
        sources: Vec::new(),
        sinks: HashMap::new(),
    };
    for &i in &dag.order {
        let stmt = &dag.stages[i].statement;
        let planned = match &stmt.kind {
            StatementKind::Source(create) => planner.source(i, stmt, create).await?,
            StatementKind::View {
                query, expectations, ..
            } => planner.view(stmt, query, expectations).await?,
            StatementKind::Table {
                query,
                partitioned_by,
                expectations,
                event_time,
                ..
            } => {
                let table = TableStatement {
                    query,
                    partitioned_by,
                    expectations,
                    event_time: event_time.as_ref(),
                };
                planner.table(stmt, table).await?
            }
            StatementKind::Insert {
                query,
                merge,
                expectations,
                ..
            } => planner.insert(stmt, query, merge.as_deref(), expectations).await?,
        };
        planner.stages[i] = Some(planned);
    }
    let Planner {
        mut modes,
        mut stages,
        mut sources,
        ..
    } = planner;
    for source in &mut sources {
        let planned_scan = kafka::resolve(source, &dag, &stages, engine.is_distributed()).await?;
        if let Some(PlannedStage::Source { scan, .. }) = stages[source.stage].as_mut() {
            *scan = Some(planned_scan);
        }
    }
    let stages = stages
        .into_iter()
        .map(|s| s.ok_or_else(|| DataFusionError::Internal("unplanned stage".into())));
    let stages = stages.collect::<Result<Vec<_>, _>>()?;

    // Analyze and optimize every plan now: type errors surface here, not half way through a run.
    for (i, stage) in stages.iter().enumerate() {
        if let Some(plan) = stage.plan() {
            ctx.state()
                .optimize(plan)
                .map_err(|e| df_err(&dag.stages[i].statement, e))?;
        }
    }
    let maintenance = crate::maintain::plan(&job.maintenance, &stages)?;
    Ok(PlannedJob {
        maintenance,
        job,
        dag,
        ctx,
        stages,
        engine,
        kafka: sources,
        warehouse,
        ledger,
        params: {
            let mut named: Vec<(String, String)> = params
                .names()
                .filter_map(|n| params.get(n).map(|v| (n.to_string(), v.to_string())))
                .collect();
            named.sort();
            named
        },
        mode: modes.mode(),
        watermarks: std::mem::take(&mut modes.watermarks),
        ranges: std::mem::take(&mut modes.reports),
        unchanged: std::mem::take(&mut modes.unchanged),
        replaces: std::mem::take(&mut modes.replaces),
        failpoint,
        profile: false,
        trigger: None,
        task_log: None,
    })
}

/// The parts of a `CREATE TABLE` that planning reads.
struct TableStatement<'s> {
    query: &'s Query,
    partitioned_by: &'s [Ident],
    expectations: &'s [Expectation],
    event_time: Option<&'s Ident>,
}

/// What planning has built so far: each stage is planned after the stages it reads.
struct Planner<'a> {
    declaring: Declaring<'a>,
    params: &'a Params,
    modes: Modes,
    stages: Vec<Option<PlannedStage>>,
    sources: Vec<KafkaSource>,
    /// Non-Delta tables that inserts write, by name.
    sinks: HashMap<String, Sink>,
}

impl Planner<'_> {
    /// A source declaration: registered for its readers; nothing runs but a Kafka source's scan.
    async fn source(
        &mut self,
        index: usize,
        stmt: &JobStatement,
        create: &CreateExternalTable,
    ) -> Result<PlannedStage> {
        let ctx = self.declaring.ctx;
        let name = stmt.target().name;
        let declared = declare::declare(&self.declaring, index, create).await?;
        if let (Some(column), Some(provider)) = (&declared.event_time, &declared.provider) {
            self.modes
                .source(
                    ctx,
                    stmt,
                    &name,
                    provider.clone(),
                    column,
                    declared.latest_hint,
                    declared.lateness,
                )
                .await?;
        }
        if let Some(provider) = declared.provider {
            // Delta and PostgreSQL reads are counted where they run (Kafka sources count their messages).
            let provider: Arc<dyn TableProvider> = match declared.format {
                SourceFormat::Delta | SourceFormat::Postgres => Arc::new(MeteredTable::new(
                    provider,
                    Reader {
                        job: self.declaring.job_path.to_string(),
                        table: name.clone(),
                    },
                )),
                SourceFormat::Kafka | SourceFormat::Listing => provider,
            };
            register(ctx, &name, provider, stmt)?;
        }
        if let Some(sink) = declared.sink {
            self.sinks.insert(name, sink);
        }
        let staged = declared.kafka.as_ref().map(|source| source.staged.clone());
        self.sources.extend(declared.kafka.map(|source| *source));
        Ok(PlannedStage::Source {
            format: declared.format,
            location: declared.location,
            staged,
            scan: None,
        })
    }

    async fn view(&mut self, stmt: &JobStatement, query: &Query, rules: &[Expectation]) -> Result<PlannedStage> {
        let ctx = self.declaring.ctx;
        let plan = plan_query(ctx, stmt, query, self.params).await?;
        let name = stmt.target().name;
        if rules.is_empty() {
            let view = ViewTable::new(plan.clone(), Some(stmt.text.clone()));
            register(ctx, &name, Arc::new(view), stmt)?;
            return Ok(PlannedStage::View {
                plan,
                expectations: None,
            });
        }
        // Checked once for the run: the view is computed once, and its readers see the rows that pass.
        let (flagged, checked) = expect::plan(ctx, stmt, plan, rules, &name, self.declaring.warehouse, self.params)?;
        register(ctx, &name, Arc::new(ViewTable::new(checked.keep.clone(), None)), stmt)?;
        Ok(PlannedStage::View {
            plan: flagged,
            expectations: Some(Arc::new(checked)),
        })
    }

    async fn table(&mut self, stmt: &JobStatement, table: TableStatement<'_>) -> Result<PlannedStage> {
        let ctx = self.declaring.ctx;
        let warehouse = self.declaring.warehouse;
        let plan = plan_query(ctx, stmt, table.query, self.params).await?;
        let name = stmt.target().name;
        let url = location::warehouse_table(&name, warehouse).map_err(|e| job_err(stmt, e))?;
        let parts = match table.event_time {
            Some(column) => {
                let column = strata_sql::job::normalize_ident(column);
                let partition_by: Vec<String> = table
                    .partitioned_by
                    .iter()
                    .map(strata_sql::job::normalize_ident)
                    .collect();
                self.modes
                    .table(ctx, stmt, &name, &column, plan, &url, &partition_by)
                    .await?
            }
            None => {
                self.modes.whole(&name);
                TablePlan::whole(plan)
            }
        };
        let schema: SchemaRef = Arc::new(parts.recomputed.schema().as_arrow().clone());
        let mut partition_by = Vec::with_capacity(table.partitioned_by.len());
        for ident in table.partitioned_by {
            let column = strata_sql::job::normalize_ident(ident);
            if schema.field_with_name(&column).is_err() {
                return Err(PlannerError::Job {
                    location: SourceLocation {
                        file: stmt.location.file.clone(),
                        line: ident.span.start.line.max(1),
                        column: ident.span.start.column.max(1),
                    },
                    message: format!("partition column '{column}' is not a column of '{name}'"),
                });
            }
            partition_by.push(column);
        }
        let output = Output {
            table: name.clone(),
            url,
            partition_by,
            mode: WriteMode::Overwrite,
            sink: None,
        };
        if table.expectations.is_empty() {
            let plan = TablePlan::written(parts.recomputed, parts.kept)?;
            let staged = Arc::new(StageTable::new(schema));
            // Readers of a table rewritten in a range see its untouched files next to what the stage writes.
            if let Some(r) = self.modes.replaces.get(&name) {
                staged.append_data_files(&r.table_url, &output.partition_by, r.untouched.clone())?;
            }
            register(ctx, &name, staged.clone(), stmt)?;
            return Ok(PlannedStage::Table {
                plan,
                output,
                table: staged,
                expectations: None,
            });
        }
        // The rules check the rows computed this run; rows kept from earlier runs passed then.
        let (flagged, mut checked) = expect::plan(
            ctx,
            stmt,
            parts.recomputed,
            table.expectations,
            &name,
            warehouse,
            self.params,
        )?;
        checked.keep = TablePlan::written(checked.keep, parts.kept)?;
        // Readers of the table see the rows that pass, and the files a range rewrite leaves in place.
        let readers = TablePlan::written(checked.keep.clone(), parts.untouched)?;
        register(ctx, &name, Arc::new(ViewTable::new(readers, None)), stmt)?;
        Ok(PlannedStage::Table {
            plan: flagged,
            output,
            table: checked.raw.clone(),
            expectations: Some(Arc::new(checked)),
        })
    }

    async fn insert(
        &mut self,
        stmt: &JobStatement,
        query: &Query,
        merge: Option<&MergeSpec>,
        rules: &[Expectation],
    ) -> Result<PlannedStage> {
        let ctx = self.declaring.ctx;
        let warehouse = self.declaring.warehouse;
        let name = stmt.target().name;
        self.modes.whole(&name);
        let plan = plan_query(ctx, stmt, query, self.params).await?;
        let (output, target_schema, table) =
            insert_target(ctx, self.declaring.dag, &self.stages, &self.sinks, stmt, warehouse).await?;
        if rules.is_empty() {
            return Ok(match merge {
                Some(spec) => {
                    let merge = plan_merge(stmt, spec, &output, target_schema, table.is_some())?;
                    PlannedStage::Insert {
                        plan,
                        output: Output {
                            sink: Some(Sink::Merge(Box::new(merge))),
                            ..output
                        },
                        table: None,
                        expectations: None,
                    }
                }
                None => PlannedStage::Insert {
                    plan: match target_schema {
                        Some(schema) => conform(plan, &schema, stmt)?,
                        None => plan,
                    },
                    output,
                    table,
                    expectations: None,
                },
            });
        }
        if table.is_some() {
            return Err(job_err(
                stmt,
                format!(
                    "'{name}': expectations on an insert or merge into a table this job creates are not \
                     supported; declare them on its CREATE TABLE and write one query (UNION ALL)"
                ),
            ));
        }
        // The rules check the rows written: an insert's (cast to the target) or a merge's source.
        let (plan, output) = match merge {
            Some(spec) => {
                let merge = plan_merge(stmt, spec, &output, target_schema, false)?;
                let sink = Some(Sink::Merge(Box::new(merge)));
                (plan, Output { sink, ..output })
            }
            None => match &target_schema {
                Some(schema) => (conform(plan, schema, stmt)?, output),
                None => (plan, output),
            },
        };
        let (flagged, checked) = expect::plan(ctx, stmt, plan, rules, &name, warehouse, self.params)?;
        Ok(PlannedStage::Insert {
            plan: flagged,
            output,
            table: Some(checked.raw.clone()),
            expectations: Some(Arc::new(checked)),
        })
    }
}

/// Every `${name}` must have a value; values nobody uses are probably typos.
fn check_parameters(job: &JobFile, params: &Params) -> Result<()> {
    for st in &job.statements {
        for (name, location) in &st.parameters {
            if params.get(name).is_none() {
                return Err(PlannerError::Job {
                    location: location.clone(),
                    message: format!("missing parameter ${{{name}}}: pass --param {name}=VALUE"),
                });
            }
        }
    }
    let used = job.parameters();
    for name in params.names() {
        if !used.contains(name) {
            tracing::warn!(parameter = name, "parameter given but not used by the job");
        }
    }
    Ok(())
}

/// Create the schemas (`silver` in `silver.daily_bars`) that the job's names use.
fn register_schemas(ctx: &SessionContext, job: &JobFile) -> Result<()> {
    let catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| DataFusionError::Internal("default catalog missing".into()))?;
    let mut schemas = BTreeSet::new();
    for st in &job.statements {
        let target = st.target();
        let parts: Vec<&str> = target.name.split('.').collect();
        match parts.len() {
            1 => {}
            2 => {
                schemas.insert(parts[0].to_string());
            }
            _ => {
                return Err(PlannerError::Job {
                    location: target.location,
                    message: format!("'{}': table names are `table` or `schema.table`", target.name),
                });
            }
        }
    }
    for schema in schemas {
        if catalog.schema(&schema).is_none() {
            catalog.register_schema(&schema, Arc::new(MemorySchemaProvider::new()))?;
        }
    }
    Ok(())
}

fn register(ctx: &SessionContext, name: &str, provider: Arc<dyn TableProvider>, stmt: &JobStatement) -> Result<()> {
    let reference = TableReference::from(name);
    // A non-Delta source was registered by DataFusion itself under the same name.
    if ctx.table_exist(reference.clone()).map_err(|e| df_err(stmt, e))? {
        ctx.deregister_table(reference.clone()).map_err(|e| df_err(stmt, e))?;
    }
    ctx.register_table(reference, provider).map_err(|e| df_err(stmt, e))?;
    Ok(())
}

async fn plan_query(ctx: &SessionContext, stmt: &JobStatement, query: &Query, params: &Params) -> Result<LogicalPlan> {
    let statement = DFStatement::Statement(Box::new(Statement::Query(Box::new(query.clone()))));
    let plan = ctx
        .state()
        .statement_to_plan(statement)
        .await
        .map_err(|e| df_err(stmt, e))?;
    bind(plan, stmt, params)
}
