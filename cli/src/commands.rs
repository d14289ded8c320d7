//! The job commands — `run`, `explain` and `validate` a job file, planned the same way by all three (mode,
//! engine, places) — and, in the submodules, the glue of `generate`, `submit` / `status` / `runs` and
//! `schedule`. The cluster's process commands are in [`crate::cluster`], Flight SQL's in [`crate::flight`].

pub mod generate;
pub mod maintain;
pub mod metrics_out;
pub mod runs;
pub mod schedule;

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use strata_planner::{Engine, EventSink, Params, PlannerError, StrataOptions};
use tracing_subscriber::EnvFilter;

use crate::args::{FailpointArgs, LogFormat, ModeArgs, PlaceArgs};
use crate::output::{Progress, event_json};

// The CLI's error is named from here by the Flight SQL commands too.
pub use crate::error::CliError;

/// Arguments shared by `run`, `explain` and `validate`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job file (a SQL script).
    pub job: PathBuf,
    /// A job parameter, bound wherever the job writes `${NAME}`, typed by how it is used; repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Where the job reads and writes, and where its run is recorded.
    #[command(flatten)]
    pub places: PlaceArgs,
    /// Crash tests only: where the run aborts its commit.
    #[command(flatten)]
    pub failpoint: FailpointArgs,
    /// Do not draw progress bars (they are also off when stderr is not a terminal or logs are JSON).
    #[arg(long)]
    pub no_progress: bool,
    /// Run the stages on a Strata cluster (its scheduler's `HOST:PORT`) instead of the embedded engine; this
    /// process plans, follows and commits.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "standalone")]
    pub cluster: Option<String>,
    /// Run the stages on a Ballista scheduler and executor started inside this process.
    #[arg(long)]
    pub standalone: bool,
    /// How the run chooses what to recompute (incremental by default).
    #[command(flatten)]
    pub mode: ModeArgs,
    /// The run's memory budget (`4G`, `512M`, bytes; `strata.memory_limit`): sorts, aggregates and windows spill
    /// to disk beyond it, and a stage that cannot fails naming the limit. Embedded runs; on a cluster each
    /// executor's own `--memory-limit` applies. Default: unbounded.
    #[arg(long, env = "STRATA_MEMORY_LIMIT", value_parser = memory_limit)]
    pub memory_limit: Option<String>,
    /// `run`: write each stage's executed plan with every operator's metrics (rows, elapsed compute, memory,
    /// spills; what `EXPLAIN ANALYZE` shows) to this file. Embedded runs show every operator; a cluster run shows
    /// the stage as one distributed query.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

/// A `--memory-limit` value, checked and kept as written (it travels as `strata.memory_limit`).
pub(crate) fn memory_limit(text: &str) -> Result<String, String> {
    strata_planner::memory::parse_memory_limit(text).map(|_| text.to_string())
}

impl JobArgs {
    fn options(&self) -> StrataOptions {
        self.places
            .options()
            .with_failpoint(self.failpoint.name())
            .with_memory_limit(self.memory_limit.clone().unwrap_or_default())
    }

    fn params(&self) -> Result<Params, CliError> {
        Params::parse(&self.params).map_err(CliError::Usage)
    }

    fn path(&self) -> String {
        self.job.display().to_string()
    }

    fn engine(&self) -> Engine {
        match (&self.cluster, self.standalone) {
            (Some(scheduler), _) => Engine::Cluster {
                scheduler: scheduler.clone(),
            },
            (None, true) => Engine::Standalone,
            (None, false) => Engine::Embedded,
        }
    }

    async fn plan(&self) -> Result<strata_planner::PlannedJob, CliError> {
        let job = strata_sql::JobFile::load(&self.path()).map_err(PlannerError::from)?;
        Ok(
            strata_planner::plan_job_with(job, self.options(), &self.params()?, self.engine(), self.mode.mode()?)
                .await?,
        )
    }
}

/// Install the process's log subscriber: to stderr, in `format`, filtered by `filter` (RUST_LOG syntax; `warn`
/// when it does not parse); with `otlp`, runs and stages also go as spans to that OTLP endpoint (unfiltered by
/// `filter`, which is for logs). Returns the tracer provider to shut down at exit. Call it once.
pub fn init_tracing(
    format: LogFormat,
    filter: &str,
    otlp: Option<&str>,
) -> Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>, CliError> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Human => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
    };
    let registry = tracing_subscriber::registry().with(logs.with_filter(filter));
    let Some(endpoint) = otlp.filter(|e| !e.is_empty()) else {
        registry.init();
        return Ok(None);
    };
    let (spans, provider) = crate::otlp::layer(endpoint).map_err(CliError::Usage)?;
    // Only Strata's run and stage spans: the libraries' own spans would swamp them.
    let spans = spans.with_filter(tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span() && meta.target().starts_with("strata")
    }));
    registry.with(spans).init();
    Ok(Some(provider))
}

fn event_sink(format: LogFormat, no_progress: bool) -> (Option<EventSink>, Option<Arc<Progress>>) {
    match format {
        LogFormat::Json => (Some(Arc::new(|e| eprintln!("{}", event_json(&e)))), None),
        LogFormat::Human if !no_progress && Progress::enabled() => {
            let progress = Arc::new(Progress::new());
            let p = progress.clone();
            (Some(Arc::new(move |e| p.event(e))), Some(progress))
        }
        LogFormat::Human => (None, None),
    }
}

/// `strata run`: a job, and where its metrics go.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job and how it runs.
    #[command(flatten)]
    pub job: JobArgs,
    /// Where its metrics go after the run.
    #[command(flatten)]
    pub metrics: metrics_out::MetricsOut,
}

/// Plan and run the job, then print its summary on stdout (text, or one JSON object in `json` format); progress
/// goes to stderr, as bars on a terminal or as JSON lines. Its metrics are pushed or written as asked.
pub async fn run(args: RunArgs, format: LogFormat) -> Result<(), CliError> {
    let RunArgs { job: args, metrics } = args;
    let mut planned = args.plan().await?;
    planned.profile = args.profile.is_some();
    let job = planned.job.path.to_string();
    let (sink, progress) = event_sink(format, args.no_progress);
    let result = strata_planner::run(planned, sink).await;
    if let Some(p) = progress {
        p.finish();
    }
    metrics.publish(&job).await;
    let summary = result?;
    if let Some(path) = &args.profile {
        let mut text = String::new();
        for stage in summary.stages.iter().filter(|s| s.profile.is_some()) {
            text += &format!(
                "## {} ({}, {} rows, {} ms)\n{}\n",
                stage.stage,
                stage.kind,
                stage.rows_out.unwrap_or(0),
                stage.elapsed_ms,
                stage.profile.as_deref().unwrap_or_default()
            );
        }
        std::fs::write(path, text).map_err(|source| CliError::Io {
            path: path.clone(),
            source,
        })?;
    }
    match format {
        LogFormat::Json => println!("{}", serde_json::to_string(&summary).unwrap_or_default()),
        LogFormat::Human => print!("{}", summary.render()),
    }
    Ok(())
}

/// The plans `run` would run, with the same mode and engine: a backfill's explain shows the ranges it rewrites.
pub async fn explain(args: JobArgs) -> Result<(), CliError> {
    let planned = args.plan().await?;
    print!("{}", strata_planner::explain(&planned).await?);
    print!("{}", crate::print::ranges(&planned.mode, &planned.ranges));
    Ok(())
}

/// Plans the job as `run` would (mode and engine included) and runs nothing.
pub async fn validate(args: JobArgs) -> Result<(), CliError> {
    let planned = args.plan().await?;
    println!("{}: ok ({} stages)", args.path(), planned.dag.stages.len());
    Ok(())
}
