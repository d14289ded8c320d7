//! `strata`: run SQL job files.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use commands::{GenerateCommand, JobArgs};

/// Strata compiles a SQL job file — sources, views, materialized tables and inserts — into DataFusion plans and
/// runs them on an embedded engine, reading and writing Delta tables.
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
