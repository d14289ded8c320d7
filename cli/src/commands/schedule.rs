//! `strata schedule JOBS_DIR`: the cron runner ([`crate::schedule`]) on a directory of job files, printing what
//! it does.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::Args;
use strata_planner::Engine;

use crate::args::{FailpointArgs, PlaceArgs, ProbeArgs};
use crate::error::CliError;
use crate::schedule::chain::load_dependents_in;
use crate::schedule::{Runner, load_jobs_in};

/// `strata schedule`: the jobs directory, the places of its runs, the engine, and whether to run once.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Directory of job files (searched recursively): files with a `--! schedule` line run on it, files with
    /// `--! after other.sql` lines after each successful run of those jobs; others are skipped.
    pub jobs: PathBuf,
    /// Where the jobs read and write and their runs are recorded; the schedule state is kept under the warehouse
    /// (`_strata/schedule/`).
    #[command(flatten)]
    pub places: PlaceArgs,
    /// Crash tests only: where scheduled runs abort their commit.
    #[command(flatten)]
    pub failpoint: FailpointArgs,
    /// Run the stages on a Strata cluster (its scheduler's `HOST:PORT`) instead of the embedded engine; this
    /// process plans and commits, as `strata run --cluster` does.
    #[arg(long, value_name = "HOST:PORT")]
    pub cluster: Option<String>,
    /// Run what is due once and exit, instead of running until stopped.
    #[arg(long)]
    pub once: bool,
    /// Act as if it were this time (RFC 3339): for replaying a schedule and for tests. Only with --once.
    #[arg(long, requires = "once")]
    pub now: Option<String>,
    /// Keep the schedule's state (last ticks, one lock per job) here instead of the warehouse's
    /// `_strata/schedule/`: required when the warehouse is on an object store (a mounted volume keeps it).
    #[arg(long, env = "STRATA_SCHEDULE_STATE", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// `/livez` and `/readyz` (ready once its jobs are loaded and the warehouse answers).
    #[command(flatten)]
    pub probes: ProbeArgs,
}

/// Run the scheduled jobs of the directory, printing each note: until stopped, or with `--once` what is due now
/// (an error when a due run failed every attempt). An error too when no job declares a schedule.
pub async fn schedule(args: ScheduleArgs) -> Result<(), CliError> {
    let state = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => strata_connectors::location::local_dir(
            &args.places.warehouse,
            "the warehouse of `schedule` without --state-dir",
        )?
        .join("_strata")
        .join("schedule"),
    };
    let jobs = load_jobs_in(&args.jobs, &state)?;
    let dependents = load_dependents_in(&args.jobs, &state)?;
    if jobs.is_empty() {
        return Err(CliError::Usage(format!(
            "no job in {} declares a schedule (--! schedule '0 0 * * *')",
            args.jobs.display()
        )));
    }
    let start = match &args.now {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| CliError::Usage(format!("--now {t}: {e}")))?,
        None => Utc::now(),
    };
    let engine = match &args.cluster {
        Some(scheduler) => Engine::Cluster {
            scheduler: scheduler.clone(),
        },
        None => Engine::Embedded,
    };
    if let Some(bind) = args.probes.http_bind {
        let store = strata_planner::probes::StoreProbe::start(
            strata_connectors::location::Warehouse::parse(&args.places.warehouse)?,
            std::time::Duration::from_secs(10),
        );
        strata_planner::probes::serve(bind, Arc::new(move || store.state()))
            .await
            .map_err(|e| CliError::Usage(format!("--http-bind {bind}: {e}")))?;
    }
    let runner = Runner::new(
        args.places.options().with_failpoint(args.failpoint.name()),
        engine,
        Arc::new(|note| println!("{note}")),
    )
    .with_dependents(dependents.clone());
    for d in &dependents {
        let after: Vec<String> = d.after.iter().map(|(p, _)| p.display().to_string()).collect();
        println!("{}: runs after {}", d.path.display(), after.join(", "));
    }
    runner.start(&jobs, start)?;
    if !args.once {
        Arc::new(runner).forever(jobs).await;
        return Ok(());
    }
    match runner.once(&jobs, start).await? {
        0 => Ok(()),
        failed => Err(CliError::ScheduledRunsFailed { failed }),
    }
}
