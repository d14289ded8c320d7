//! `strata`: run SQL job files.

mod cluster;
mod commands;
mod flight;
mod ledger;
mod schedule;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use commands::{GenerateCommand, JobArgs};

/// Strata compiles a SQL job file — sources, views, materialized tables and inserts — into DataFusion plans and
/// runs them on an embedded engine or a Ballista cluster, reading and writing Delta tables.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log format: `human` for terminals, `json` for log collectors (one JSON object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "STRATA_LOG_FORMAT")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `strata_planner=debug` (RUST_LOG syntax).
    #[arg(long, global = true, default_value = "warn", env = "STRATA_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job file: plan every stage, run them (independent stages concurrently), then commit each output table
    /// in one Delta commit. A failed job commits nothing.
    Run(JobArgs),
    /// Show the stage DAG and each stage's optimized DataFusion plan, without running anything.
    Explain(JobArgs),
    /// Parse and plan a job file without running it; errors name `file:line:col`.
    Validate(JobArgs),
    /// Generate synthetic data to run jobs on.
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Run the Strata scheduler: Ballista's scheduler with Strata's functions and codecs, plus the job service.
    Scheduler(cluster::SchedulerArgs),
    /// Run a Strata executor that registers with a scheduler.
    Executor(cluster::ExecutorArgs),
    /// Send a job file to the scheduler, which plans and runs it; prints the run id (or waits with --wait).
    Submit(cluster::SubmitArgs),
    /// Show a run's state, per-stage progress and error (from the scheduler, or with --warehouse the ledger).
    Status(cluster::StatusArgs),
    /// List recent runs: the scheduler's, or with --warehouse the warehouse's run ledger.
    Runs(cluster::RunsArgs),
    /// Run the job files of a directory on the cron schedules they declare (`--! schedule '0 0 * * *'`), one run
    /// at a time per job, with retries; missed ticks are caught up as one backfill.
    Schedule(schedule::ScheduleArgs),
    /// Start or stop a local cluster (scheduler and executors on loopback).
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Serve the warehouse's tables and run ledger over Arrow Flight SQL (read-only), for ADBC/JDBC clients.
    Serve(flight::ServeArgs),
    /// Run a read-only SQL statement on a Flight SQL server (or embedded on a warehouse) and print the rows as a
    /// table, CSV, JSON or Arrow IPC.
    Query(flight::QueryArgs),
    /// Read a password on stdin and print the Flight SQL users-file line for USER.
    Passwd(flight::PasswdArgs),
    /// Print the reference of Strata's SQL functions (indicators, resampling, calendars, cleaning) as Markdown.
    Functions,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    commands::init_tracing(cli.log_format, &cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run(args, cli.log_format).await,
            Command::Explain(args) => commands::explain(args).await,
            Command::Validate(args) => commands::validate(args).await,
            Command::Generate(g) => commands::generate(g, cli.log_format).await,
            Command::Scheduler(args) => cluster::scheduler(args).await,
            Command::Executor(args) => cluster::executor(args).await,
            Command::Submit(args) => cluster::submit(args, cli.log_format).await,
            Command::Status(args) => cluster::status(args, cli.log_format).await,
            Command::Runs(args) => cluster::runs(args, cli.log_format).await,
            Command::Schedule(args) => schedule::schedule(args).await,
            Command::Cluster(cluster::ClusterCommand::Up(args)) => cluster::up(args).await,
            Command::Cluster(cluster::ClusterCommand::Down(args)) => cluster::down(args).await,
            Command::Serve(args) => flight::serve(args).await,
            Command::Query(args) => flight::query(args).await,
            Command::Passwd(args) => flight::passwd(args),
            Command::Functions => {
                print!("{}", strata_sql::functions::reference_markdown());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if cli.log_format == LogFormat::Json {
                let line = serde_json::json!({ "level": "ERROR", "error": e.to_string() });
                eprintln!("{line}");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
