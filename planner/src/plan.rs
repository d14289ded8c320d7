//! Planning: every stage of a job becomes a bound DataFusion logical plan before anything runs, so that unknown
//! tables, functions, columns, type errors and missing parameters are all reported up front.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::common::TableReference;
use datafusion::datasource::ViewTable;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CreateExternalTable, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{Query, Statement};
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::location;
use strata_sql::{JobFile, JobStatement, SourceLocation, StatementKind};
use url::Url;

use crate::config::StrataOptions;
use crate::dag::StageDag;
use crate::engine::Engine;
use crate::error::{PlannerError, Result, df_err, job_err};
use crate::expect::{self, Expectations};
use crate::insert::{conform, insert_target};
use crate::kafka::{self, Declared, KafkaSink, KafkaSource};
use crate::merge::DeltaMerge;
use crate::modes::{Modes, RangeReport, RunMode, TablePlan};
use crate::params::{Params, bind};
use crate::postgres;
use strata_connectors::postgres::sink::PgSink;
use strata_connectors::stage::StageTable;

/// Where a stage's rows go when the job commits.
#[derive(Debug, Clone)]
pub struct Output {
    /// Normalized table name.
    pub table: String,
    pub url: Url,
    pub partition_by: Vec<String>,
    pub mode: WriteMode,
    /// Set when the table is not Delta: a Kafka topic (rows produced as messages) or a PostgreSQL table.
    pub sink: Option<Sink>,
}

/// A non-Delta table an insert writes, in the commit phase.
#[derive(Debug, Clone)]
pub enum Sink {
    Kafka(KafkaSink),
    Postgres(Box<PgSink>),
    /// `MERGE INTO` a Delta table.
    Merge(Box<DeltaMerge>),
}

/// One planned stage.
#[derive(Debug, Clone)]
pub struct PlannedStage {
    /// The bound logical plan of a view, table or insert.
    pub plan: Option<LogicalPlan>,
    pub output: Option<Output>,
    /// The provider downstream stages read (materialized tables).
    pub table: Option<Arc<StageTable>>,
    /// A source's resolved location.
    pub source: Option<String>,
    /// A table stage's expectations: its plan then yields the rows with violation flags.
    pub expectations: Option<Arc<Expectations>>,
}

impl PlannedStage {
    /// A source declaration: nothing to run; `table` is what a Kafka source stages.
    fn declared(table: Option<Arc<StageTable>>, source: String) -> Self {
        Self {
            plan: None,
            output: None,
            table,
            source: Some(source),
            expectations: None,
        }
    }
}

/// A job whose every stage planned successfully.
pub struct PlannedJob {
    pub job: JobFile,
    pub dag: StageDag,
    pub ctx: SessionContext,
    pub stages: Vec<PlannedStage>,
    /// Where the stages execute.
    pub engine: Engine,
    /// The Kafka topics the job reads, with this run's ranges.
    pub kafka: Vec<KafkaSource>,
    /// The warehouse directory (cluster runs stage Kafka messages under it; the run ledger lives in it).
    pub warehouse: PathBuf,
    /// The job's parameters, by name.
    pub params: Vec<(String, String)>,
    /// Where the run is recorded.
    pub ledger: crate::ledger::Ledger,
    /// How this run chose what to recompute.
    pub mode: RunMode,
    /// Each event-time source's latest event time (recorded in the ledger on success).
    pub watermarks: std::collections::BTreeMap<String, i64>,
    /// What the run rewrites of each table with an event time.
    pub ranges: Vec<RangeReport>,
    /// Tables whose rows all stay as they are: not committed.
    pub unchanged: std::collections::HashSet<String>,
    /// Tables rewritten in a range: the files each commit replaces.
    pub replaces: std::collections::HashMap<String, strata_connectors::delta::replace::Replace>,
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
    let dag = StageDag::build(&job)?;
    check_parameters(&job, params)?;
    let warehouse: PathBuf = options.warehouse_path();
    let ledger = crate::ledger::Ledger::open(&warehouse, &options.ledger)?;
    let mut modes = Modes::new(mode, &job.path, ledger.clone(), engine.clone());
    let kafka_brokers = options.kafka_brokers.clone();
    let ctx = engine.context(options).await?;
    register_schemas(&ctx, &job)?;

    let mut stages: Vec<Option<PlannedStage>> = vec![None; dag.stages.len()];
    let mut sources: Vec<KafkaSource> = Vec::new();
    let mut sinks: HashMap<String, Sink> = HashMap::new();
    for &i in &dag.order {
        let stmt = &dag.stages[i].statement;
        let planned = match &stmt.kind {
            StatementKind::Source(create) if create.file_type.eq_ignore_ascii_case("KAFKA") => {
                let written = create.locations.first().cloned().unwrap_or_default();
                match kafka::declare(&ctx, &dag, i, create, &job.path, &warehouse, &kafka_brokers).await? {
                    Declared::Source(source) => {
                        let table = source.staged.clone();
                        sources.push(*source);
                        PlannedStage::declared(Some(table), written)
                    }
                    Declared::Sink(sink) => {
                        sinks.insert(stmt.target().name, Sink::Kafka(sink));
                        PlannedStage::declared(None, written)
                    }
                }
            }
            StatementKind::Source(create) if create.file_type.eq_ignore_ascii_case("POSTGRES") => {
                let written = create.locations.first().cloned().unwrap_or_default();
                let declared = postgres::declare(&ctx, &dag, i, create, engine.is_distributed()).await?;
                let name = stmt.target().name;
                if let Some(sink) = declared.sink {
                    sinks.insert(name.clone(), Sink::Postgres(Box::new(sink)));
                }
                if let Some(table) = declared.source {
                    register(&ctx, &name, table, stmt)?;
                }
                PlannedStage::declared(None, written)
            }
            StatementKind::Source(create) => {
                let target = stmt.target();
                let written = create.locations.first().cloned().unwrap_or_default();
                let (create, event_time) = event_time_option(create);
                let url = location::resolve(&written, &warehouse).map_err(|e| job_err(stmt, e))?;
                let format = create.file_type.to_uppercase();
                let provider: Arc<dyn TableProvider> = if format == "DELTA" {
                    let table = delta::open(&url).await.map_err(|e| PlannerError::Job {
                        location: stmt.location.clone(),
                        message: format!("source '{}': {e}", target.name),
                    })?;
                    engine
                        .delta_provider(&table, &ctx)
                        .await
                        .map_err(|e| job_err(stmt, e))?
                } else {
                    let mut create = create.clone();
                    create.locations = vec![listing_location(&url)];
                    // Register under a scratch name, then move it to the job's (possibly qualified) name.
                    let plan = ctx
                        .state()
                        .statement_to_plan(DFStatement::CreateExternalTable(create))
                        .await
                        .map_err(|e| df_err(stmt, e))?;
                    ctx.execute_logical_plan(plan).await.map_err(|e| df_err(stmt, e))?;
                    ctx.table_provider(TableReference::from(target.name.as_str()))
                        .await
                        .map_err(|e| df_err(stmt, e))?
                };
                if let Some(column) = &event_time {
                    modes.source(&ctx, stmt, &target.name, provider.clone(), column).await?;
                }
                register(&ctx, &target.name, provider, stmt)?;
                PlannedStage::declared(None, url.to_string())
            }
            StatementKind::View {
                query, expectations, ..
            } => {
                let plan = plan_query(&ctx, stmt, query, params).await?;
                let name = stmt.target().name;
                if expectations.is_empty() {
                    let view = ViewTable::new(plan.clone(), Some(stmt.text.clone()));
                    register(&ctx, &name, Arc::new(view), stmt)?;
                    PlannedStage {
                        plan: Some(plan),
                        output: None,
                        table: None,
                        source: None,
                        expectations: None,
                    }
                } else {
                    // Checked once for the run: the view is computed once, and its readers see the rows that pass.
                    let stage = checked(&ctx, stmt, plan, expectations, &name, &warehouse, params, None)?;
                    if let Some(e) = &stage.expectations {
                        register(&ctx, &name, Arc::new(ViewTable::new(e.keep.clone(), None)), stmt)?;
                    }
                    stage
                }
            }
            StatementKind::Table {
                query,
                partitioned_by,
                expectations,
                event_time,
                ..
            } => {
                let plan = plan_query(&ctx, stmt, query, params).await?;
                let name = stmt.target().name;
                let url = location::warehouse_table(&name, &warehouse).map_err(|e| job_err(stmt, e))?;
                let parts = match event_time {
                    Some(column) => {
                        let column = strata_sql::job::normalize_ident(column);
                        let partition_by: Vec<String> =
                            partitioned_by.iter().map(strata_sql::job::normalize_ident).collect();
                        modes
                            .table(&ctx, stmt, &name, &column, plan, &url, &partition_by)
                            .await?
                    }
                    None => {
                        modes.whole(&name);
                        TablePlan::whole(plan)
                    }
                };
                let schema: SchemaRef = Arc::new(parts.recomputed.schema().as_arrow().clone());
                let mut partition_by = Vec::with_capacity(partitioned_by.len());
                for ident in partitioned_by {
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
                let output = Some(Output {
                    table: name.clone(),
                    url,
                    partition_by,
                    mode: WriteMode::Overwrite,
                    sink: None,
                });
                if expectations.is_empty() {
                    let plan = TablePlan::written(parts.recomputed, parts.kept)?;
                    let table = Arc::new(StageTable::new(schema));
                    // Readers of a table rewritten in a range see its untouched files next to what the stage writes.
                    if let (Some(r), Some(o)) = (modes.replaces.get(&name), &output) {
                        table.append_data_files(&r.table_url, &o.partition_by, r.untouched.clone())?;
                    }
                    register(&ctx, &name, table.clone(), stmt)?;
                    PlannedStage {
                        plan: Some(plan),
                        output,
                        table: Some(table),
                        source: None,
                        expectations: None,
                    }
                } else {
                    // The rules check the rows computed this run; rows kept from earlier runs passed then.
                    let (flagged, mut planned) =
                        expect::plan(&ctx, stmt, parts.recomputed, expectations, &name, &warehouse, params)?;
                    planned.keep = TablePlan::written(planned.keep, parts.kept)?;
                    // Readers of the table see the rows that pass, and the files a range rewrite leaves in place.
                    let readers = TablePlan::written(planned.keep.clone(), parts.untouched)?;
                    register(&ctx, &name, Arc::new(ViewTable::new(readers, None)), stmt)?;
                    PlannedStage {
                        plan: Some(flagged),
                        output,
                        table: Some(planned.raw.clone()),
                        source: None,
                        expectations: Some(Arc::new(planned)),
                    }
                }
            }
            StatementKind::Insert {
                query,
                merge,
                expectations,
                ..
            } => {
                let name = stmt.target().name;
                modes.whole(&name);
                let plan = plan_query(&ctx, stmt, query, params).await?;
                let (output, target_schema, table) =
                    insert_target(&ctx, &dag, &stages, &sinks, stmt, &warehouse).await?;
                if !expectations.is_empty() {
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
                            let merge = DeltaMerge::new(stmt, spec, &output, target_schema, false)?;
                            let sink = Some(Sink::Merge(Box::new(merge)));
                            (plan, Output { sink, ..output })
                        }
                        None => match &target_schema {
                            Some(schema) => (conform(plan, schema, stmt)?, output),
                            None => (plan, output),
                        },
                    };
                    let output = Some(output);
                    let stage = checked(&ctx, stmt, plan, expectations, &name, &warehouse, params, output)?;
                    stages[i] = Some(stage);
                    continue;
                }
                match merge {
                    Some(spec) => {
                        let merge = DeltaMerge::new(stmt, spec, &output, target_schema, table.is_some())?;
                        PlannedStage {
                            plan: Some(plan),
                            output: Some(Output {
                                sink: Some(Sink::Merge(Box::new(merge))),
                                ..output
                            }),
                            table: None,
                            source: None,
                            expectations: None,
                        }
                    }
                    None => PlannedStage {
                        plan: Some(match target_schema {
                            Some(schema) => conform(plan, &schema, stmt)?,
                            None => plan,
                        }),
                        output: Some(output),
                        table,
                        source: None,
                        expectations: None,
                    },
                }
            }
        };
        stages[i] = Some(planned);
    }
    for source in &mut sources {
        kafka::resolve(source, &dag, &mut stages, engine.is_distributed()).await?;
    }
    let stages = stages
        .into_iter()
        .map(|s| s.ok_or_else(|| DataFusionError::Internal("unplanned stage".into())));
    let stages = stages.collect::<Result<Vec<_>, _>>()?;

    // Analyze and optimize every plan now: type errors surface here, not half way through a run.
    for (i, stage) in stages.iter().enumerate() {
        if let Some(plan) = &stage.plan {
            ctx.state()
                .optimize(plan)
                .map_err(|e| df_err(&dag.stages[i].statement, e))?;
        }
    }
    Ok(PlannedJob {
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
    })
}

/// A stage whose rows `rules` check: its query runs once with one violation flag per rule into a staged table, from
/// which the rules are counted and the rows that pass, and those quarantined, are derived.
#[allow(clippy::too_many_arguments)]
fn checked(
    ctx: &SessionContext,
    stmt: &JobStatement,
    plan: LogicalPlan,
    rules: &[strata_sql::Expectation],
    name: &str,
    warehouse: &std::path::Path,
    params: &Params,
    output: Option<Output>,
) -> Result<PlannedStage> {
    let (flagged, planned) = expect::plan(ctx, stmt, plan, rules, name, warehouse, params)?;
    Ok(PlannedStage {
        plan: Some(flagged),
        output,
        table: Some(planned.raw.clone()),
        source: None,
        expectations: Some(Arc::new(planned)),
    })
}

/// A source's `event_time` option (which only Strata reads), and the declaration without it.
fn event_time_option(create: &CreateExternalTable) -> (CreateExternalTable, Option<String>) {
    let mut create = create.clone();
    let mut event_time = None;
    create.options.retain(|(key, value)| {
        if key.eq_ignore_ascii_case("event_time") {
            event_time = Some(match value {
                datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s)
                | datafusion::sql::sqlparser::ast::Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            });
            false
        } else {
            true
        }
    });
    (create, event_time)
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

/// What DataFusion's listing tables expect: a local path (a directory ends in `/`) or a URL.
fn listing_location(url: &Url) -> String {
    match location::local_path(url) {
        Some(path) if path.is_dir() => format!("{}/", path.display()),
        Some(path) => path.display().to_string(),
        None => url.to_string(),
    }
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
