//! The subcommands' implementations.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use clap::{Args, FromArgMatches, Subcommand};
use strata_cli::generate::{self, BarInterval, MarketSpec};
use strata_cli::output::{Progress, event_json};
use strata_connectors::delta::{self, WriteMode};
use strata_connectors::location;
use strata_planner::{Engine, EventSink, Params, PlannerError, RunMode, StrataOptions};
use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Errors the CLI reports before exiting non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Planner(Box<PlannerError>),
    #[error(transparent)]
    Connector(Box<strata_connectors::ConnectorError>),
    #[error("{0}")]
    Cluster(String),
    #[error("generating data: {0}")]
    Generate(#[from] datafusion::arrow::error::ArrowError),
}

impl From<PlannerError> for CliError {
    fn from(e: PlannerError) -> Self {
        CliError::Planner(Box::new(e))
    }
}

impl From<strata_connectors::ConnectorError> for CliError {
    fn from(e: strata_connectors::ConnectorError) -> Self {
        CliError::Connector(Box::new(e))
    }
}

/// The place arguments as clap declares them; [`PlaceArgs`] adds where each value came from.
#[derive(Debug, Args, Clone)]
struct PlaceFlags {
    /// The warehouse: `CREATE TABLE a.b` writes the Delta table `<warehouse>/a/b`; relative LOCATIONs start here.
    #[arg(long, env = "STRATA_WAREHOUSE", default_value = DEFAULT_WAREHOUSE)]
    warehouse: String,
    /// Kafka bootstrap servers (host:port,…) for Kafka tables whose LOCATION names none (`kafka:///topic`).
    #[arg(long, env = "STRATA_KAFKA_BROKERS", default_value = "")]
    kafka_brokers: String,
    /// Where runs are recorded: the warehouse's own ledger (`_strata/runs`) by default, or a PostgreSQL schema
    /// (`postgres://host:port/db?schema=…`; credentials from the environment).
    #[arg(long, env = "STRATA_LEDGER", default_value = "")]
    ledger: String,
}

/// The warehouse every command uses when neither `--warehouse` nor `STRATA_WAREHOUSE` names one.
pub const DEFAULT_WAREHOUSE: &str = "./warehouse";

/// One of the place arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Warehouse,
    KafkaBrokers,
    Ledger,
}

impl Place {
    const ALL: [Place; 3] = [Place::Warehouse, Place::KafkaBrokers, Place::Ledger];

    fn index(self) -> usize {
        match self {
            Place::Warehouse => 0,
            Place::KafkaBrokers => 1,
            Place::Ledger => 2,
        }
    }

    /// The clap id of the argument.
    fn id(self) -> &'static str {
        match self {
            Place::Warehouse => "warehouse",
            Place::KafkaBrokers => "kafka_brokers",
            Place::Ledger => "ledger",
        }
    }

    /// The flag as a user writes it.
    pub fn flag(self) -> &'static str {
        match self {
            Place::Warehouse => "--warehouse",
            Place::KafkaBrokers => "--kafka-brokers",
            Place::Ledger => "--ledger",
        }
    }
}

/// Where a place argument's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Given {
    /// Its default: nothing named it.
    #[default]
    Default,
    /// Its environment variable (`STRATA_WAREHOUSE`, `STRATA_KAFKA_BROKERS`, `STRATA_LEDGER`).
    Env,
    /// Its flag.
    CommandLine,
}

impl Given {
    fn of(matches: &clap::ArgMatches, place: Place) -> Given {
        match matches.value_source(place.id()) {
            Some(clap::parser::ValueSource::CommandLine) => Given::CommandLine,
            Some(clap::parser::ValueSource::EnvVariable) => Given::Env,
            _ => Given::Default,
        }
    }
}

/// Where jobs read and write and runs are recorded — the warehouse, the Kafka brokers and the ledger — declared
/// once for every command, with the same flags, environment variables and defaults everywhere. It remembers where
/// each value came from: a command may prefer a flag over another command's default (`strata runs --warehouse`
/// over `STRATA_SCHEDULER`), and refuses a flag it has no use for instead of ignoring it.
#[derive(Debug, Clone)]
pub struct PlaceArgs {
    pub warehouse: String,
    pub kafka_brokers: String,
    pub ledger: String,
    given: [Given; 3],
}

impl PlaceArgs {
    /// The engine options these name.
    pub fn options(&self) -> StrataOptions {
        StrataOptions::default()
            .with_warehouse(self.warehouse.clone())
            .with_kafka_brokers(self.kafka_brokers.clone())
            .with_ledger(self.ledger.clone())
    }

    /// Where the value of `place` came from.
    pub fn given(&self, place: Place) -> Given {
        self.given[place.index()]
    }

    /// An error when `command` was given a flag among `unused`: it has no use for them. Their environment
    /// variables are settings for every command and stay quietly unused.
    pub fn refuse(&self, command: &str, unused: &[Place], why: &str) -> Result<(), CliError> {
        match unused.iter().find(|&&p| self.given(p) == Given::CommandLine) {
            Some(place) => Err(CliError::Usage(format!(
                "`strata {command}` takes no {}: {why}",
                place.flag()
            ))),
            None => Ok(()),
        }
    }
}

impl clap::FromArgMatches for PlaceArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let flags = PlaceFlags::from_arg_matches(matches)?;
        Ok(PlaceArgs {
            warehouse: flags.warehouse,
            kafka_brokers: flags.kafka_brokers,
            ledger: flags.ledger,
            given: Place::ALL.map(|p| Given::of(matches, p)),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for PlaceArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        PlaceFlags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        PlaceFlags::augment_args_for_update(cmd)
    }
}

/// Arguments shared by `run`, `explain` and `validate`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job file (a SQL script).
    pub job: PathBuf,
    /// A job parameter, bound wherever the job writes `${NAME}`, typed by how it is used; repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub places: PlaceArgs,
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
    #[command(flatten)]
    pub mode: ModeArgs,
}

/// How a run chooses what to recompute; incremental unless one of these is given.
#[derive(Debug, Args, Clone, Default)]
pub struct ModeArgs {
    /// Recompute every table from all of its inputs, ignoring the last run's watermarks.
    #[arg(long, conflicts_with = "backfill")]
    pub full_refresh: bool,
    /// Recompute the source rows with event times from FROM to TO (YYYY-MM-DD or RFC 3339, both inclusive) and
    /// every range of every table they reach.
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
    pub backfill: Vec<String>,
}

impl ModeArgs {
    /// The mode as the job service receives it: name, backfill start, backfill end.
    pub fn wire(&self) -> (String, String, String) {
        match (self.full_refresh, self.backfill.as_slice()) {
            (true, _) => ("full-refresh".into(), String::new(), String::new()),
            (false, [from, to]) => ("backfill".into(), from.clone(), to.clone()),
            _ => ("incremental".into(), String::new(), String::new()),
        }
    }

    pub fn mode(&self) -> Result<RunMode, CliError> {
        let (mode, from, to) = self.wire();
        RunMode::parse(&mode, &from, &to).map_err(CliError::Usage)
    }
}

impl JobArgs {
    fn options(&self) -> StrataOptions {
        self.places.options()
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

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Daily (or minute) OHLCV bars for N symbols on the NYSE calendar, as a Delta table partitioned by year.
    ///
    /// Prices follow a geometric Brownian motion per symbol; the same arguments always give the same rows.
    Market(MarketArgs),
}

#[derive(Debug, Args)]
pub struct MarketArgs {
    /// Number of symbols (tickers AAAA, AAAB, …).
    #[arg(long, default_value_t = 100)]
    pub symbols: usize,
    /// First calendar date (YYYY-MM-DD); only NYSE sessions produce bars.
    #[arg(long)]
    pub start: NaiveDate,
    /// Last calendar date (YYYY-MM-DD), inclusive.
    #[arg(long)]
    pub end: NaiveDate,
    /// Random seed: same seed, same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of rows given one defect (duplicate, NULL or non-positive price, high < low, ×50 spike,
    /// out-of-order), for cleaning stages to remove.
    #[arg(long, default_value_t = 0.0)]
    pub defect_rate: f64,
    /// Bar size.
    #[arg(long, value_enum, default_value_t = BarInterval::Daily)]
    pub interval: BarInterval,
    /// Output Delta table (a directory); replaced if it exists.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn init_tracing(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
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

pub async fn run(args: JobArgs, format: LogFormat) -> Result<(), CliError> {
    let planned = args.plan().await?;
    let (sink, progress) = event_sink(format, args.no_progress);
    let result = strata_planner::run(planned, sink).await;
    if let Some(p) = progress {
        p.finish();
    }
    let summary = result?;
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
    print!("{}", crate::ledger::ranges(&planned.mode, &planned.ranges));
    Ok(())
}

/// Plans the job as `run` would (mode and engine included) and runs nothing.
pub async fn validate(args: JobArgs) -> Result<(), CliError> {
    let planned = args.plan().await?;
    println!("{}: ok ({} stages)", args.path(), planned.dag.stages.len());
    Ok(())
}

pub async fn generate(command: GenerateCommand, format: LogFormat) -> Result<(), CliError> {
    let GenerateCommand::Market(a) = command;
    let started = Instant::now();
    let spec = MarketSpec {
        symbols: a.symbols,
        start: a.start,
        end: a.end,
        seed: a.seed,
        defect_rate: a.defect_rate,
        interval: a.interval,
    };
    let data = generate::generate(&spec)?;
    let generated_in = started.elapsed();
    let out = std::path::absolute(&a.out).map_err(|e| CliError::Usage(format!("--out {}: {e}", a.out.display())))?;
    let url = location::resolve(&out.to_string_lossy(), &out)?;
    let written = delta::write(
        &url,
        data.schema.clone(),
        data.batches,
        &["year".to_string()],
        WriteMode::Overwrite,
    )
    .await?;
    let report = serde_json::json!({
        "table": out.display().to_string(),
        "version": written.version,
        "rows": data.rows,
        "symbols": spec.symbols,
        "interval": spec.interval,
        "defects": data.defects,
        "defects_removable": data.defects.removable(),
        "generate_ms": generated_in.as_millis() as u64,
        "total_ms": started.elapsed().as_millis() as u64,
    });
    match format {
        LogFormat::Json => println!("{report}"),
        LogFormat::Human => {
            println!(
                "wrote {} rows ({} symbols) to {} (Delta version {}) in {:.2}s",
                data.rows,
                spec.symbols,
                out.display(),
                written.version,
                started.elapsed().as_secs_f64()
            );
            if spec.defect_rate > 0.0 {
                let d = data.defects;
                println!(
                    "defects: {} duplicates, {} null prices, {} non-positive prices, {} high<low, {} spikes, {} out of order",
                    d.duplicates, d.null_prices, d.non_positive_prices, d.high_below_low, d.spikes, d.out_of_order
                );
            }
        }
    }
    Ok(())
}
