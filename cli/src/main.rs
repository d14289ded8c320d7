//! `strata`: run SQL job files. The command line is declared here and dispatched to the `strata_cli` library,
//! which does the work.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use strata_cli::args::LogFormat;
use strata_cli::commands::generate::GenerateCommand;
use strata_cli::commands::runs::{RunsArgs, StatusArgs, SubmitArgs};
use strata_cli::commands::schedule::ScheduleArgs;
use strata_cli::commands::{self, JobArgs};
use strata_cli::error::CliError;
use strata_cli::{cluster, flight};

/// Strata compiles a SQL job file — sources, views, materialized tables and inserts — into DataFusion plans and
/// runs them on an embedded engine or a Ballista cluster, reading and writing Delta tables.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log format: `human` for terminals, `json` for log collectors (one JSON object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "STRATA_LOG_FORMAT")]
    log_format: LogFormat,
    /// Send runs and stages as OpenTelemetry spans to this OTLP/HTTP endpoint (e.g. `http://collector:4318`).
    #[arg(long, global = true, env = "STRATA_OTLP_ENDPOINT", value_name = "URL")]
    otlp_endpoint: Option<String>,
    /// Log filter, e.g. `info` or `strata_planner=debug` (RUST_LOG syntax).
    #[arg(long, global = true, default_value = "warn", env = "STRATA_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a job file: plan every stage, run them (independent stages concurrently), then commit each output table
    /// in one Delta commit. A failed job commits nothing.
    Run(commands::RunArgs),
    /// Show the stage DAG and each stage's optimized DataFusion plan, and what the run would rewrite of each
    /// table with an event time, without running anything.
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
    Submit(SubmitArgs),
    /// Show a run's state, per-stage progress and error: from the warehouse's run ledger, or with --scheduler
    /// from a scheduler.
    Status(StatusArgs),
    /// List recent runs: the warehouse's run ledger's, or with --scheduler a scheduler's.
    Runs(RunsArgs),
    /// Run the job files of a directory on the cron schedules they declare (`--! schedule '0 0 * * *'`), one run
    /// at a time per job, with retries; missed ticks are caught up as one backfill.
    Schedule(ScheduleArgs),
    /// Compact tables' small files into larger ones (optionally Z-ordered by columns), in one commit per table;
    /// readers of earlier versions are unaffected.
    Optimize(commands::maintain::OptimizeArgs),
    /// Delete the files of tables that no version within the retention needs (removed ones, and those of failed
    /// or retried stages).
    Vacuum(commands::maintain::VacuumArgs),
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

/// Run `work` until it ends, or until the process receives SIGTERM (then stop it and succeed): `serve` and
/// `schedule` run as PID 1 in containers, where a signal without a handler is ignored and `docker stop` or the
/// kubelet would have to kill them. A scheduled run in progress is abandoned and commits nothing.
async fn until_terminated(work: impl std::future::Future<Output = Result<(), CliError>>) -> Result<(), CliError> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Usage(format!("cannot handle SIGTERM: {e}")))?;
    tokio::select! {
        result = work => result,
        _ = terminate.recv() => {
            tracing::info!("SIGTERM: stopping");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let tracer = match commands::init_tracing(cli.log_format, &cli.log, cli.otlp_endpoint.as_deref()) {
        Ok(tracer) => tracer,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Every process of the binary (run, scheduler, executor, serve) opens s3:// tables the same way.
    strata_connectors::store::install();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let format = cli.log_format;
    let result = runtime.block_on(async {
        // Every process records metrics; long-running ones serve them on --http-bind's /metrics.
        strata_planner::metrics::install();
        match cli.command {
            Command::Run(args) => commands::run(args, format).await,
            Command::Explain(args) => commands::explain(args).await,
            Command::Validate(args) => commands::validate(args).await,
            Command::Generate(g) => commands::generate::generate(g, format).await,
            Command::Scheduler(args) => cluster::scheduler(args).await,
            Command::Executor(args) => cluster::executor(args).await,
            Command::Submit(args) => commands::runs::submit(args, format).await,
            Command::Status(args) => commands::runs::status(args, format).await,
            Command::Runs(args) => commands::runs::runs(args, format).await,
            Command::Schedule(args) => until_terminated(commands::schedule::schedule(args)).await,
            Command::Optimize(args) => commands::maintain::optimize(args, format).await,
            Command::Vacuum(args) => commands::maintain::vacuum(args, format).await,
            Command::Cluster(cluster::ClusterCommand::Up(args)) => cluster::up(args).await,
            Command::Cluster(cluster::ClusterCommand::Down(args)) => cluster::down(args).await,
            Command::Serve(args) => until_terminated(flight::serve(args)).await,
            Command::Query(args) => flight::query(args).await,
            Command::Passwd(args) => flight::passwd(args),
            Command::Functions => {
                print!("{}", strata_sql::functions::reference_markdown());
                Ok(())
            }
        }
    });
    // The last batch of spans goes before the process does.
    if let Some(tracer) = tracer
        && let Err(e) = tracer.shutdown()
    {
        eprintln!("warning: spans not exported: {e}");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if format == LogFormat::Json {
                let line = serde_json::json!({ "level": "ERROR", "error": e.to_string() });
                eprintln!("{line}");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// clap checks a command line's declarations (duplicate ids, conflicts naming unknown arguments, …) only when
    /// it parses; this checks them all at once.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_that_needs_a_place_takes_the_same_flags() {
        for command in [
            vec!["run", "j.sql"],
            vec!["explain", "j.sql"],
            vec!["validate", "j.sql"],
            vec!["schedule", "jobs"],
            vec!["submit", "j.sql"],
            vec!["status", "r1"],
            vec!["runs"],
            vec!["scheduler"],
            vec!["cluster", "up"],
            vec!["serve"],
            vec!["query", "SELECT 1"],
        ] {
            let mut argv = vec!["strata"];
            argv.extend(&command);
            argv.extend([
                "--warehouse",
                "/wh",
                "--ledger",
                "postgres:///db",
                "--kafka-brokers",
                "k:9092",
            ]);
            if let Err(e) = Cli::try_parse_from(argv.clone()) {
                panic!("{command:?}: {e}");
            }
        }
    }
}
