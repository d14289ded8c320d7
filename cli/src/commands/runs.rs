//! `strata submit` (a job file to a scheduler), `strata status` and `strata runs`: runs as a scheduler holds them,
//! or as a run ledger records them. With no scheduler named, `status` and `runs` read the ledger of the default
//! warehouse — the one `strata run` records in — so they answer right after a first local run.

use std::path::PathBuf;

use clap::Args;
use strata_planner::ledger::{Ledger, LedgerRun};
use strata_proto::job::{RunsRequest, StatusRequest, SubmitRequest};

use crate::args::{Given, LogFormat, ModeArgs, Place, PlaceArgs, SchedulerAddr, absolute};
use crate::error::CliError;
use crate::print;
use crate::remote::{self, call_error};

/// `strata submit`: the job file, the scheduler that runs it, and the run's parameters, places and mode.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job file.
    pub job: PathBuf,
    /// The scheduler that plans and runs the job (its job service's address).
    #[command(flatten)]
    pub addr: SchedulerAddr,
    /// The login to the scheduler's job service (the users file it shares with Flight SQL), and TLS.
    #[command(flatten)]
    pub login: crate::flight::LoginArgs,
    /// A job parameter `NAME=VALUE`; repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The warehouse is sent as the cluster sees it (a relative local path is made absolute here); when none is
    /// named, the scheduler's own.
    #[command(flatten)]
    pub places: PlaceArgs,
    /// Wait for the run to end; exit non-zero if it fails.
    #[arg(long)]
    pub wait: bool,
    /// How the run chooses what to recompute (incremental by default).
    #[command(flatten)]
    pub mode: ModeArgs,
}

/// `strata status`: which run, and where to find it.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run's id; from a ledger, its first eight characters or more will do.
    pub run_id: String,
    /// Where to find the run: a scheduler, or a run ledger.
    #[command(flatten)]
    pub from: RunSourceArgs,
}

/// `strata runs`: where to find runs, and how many to show.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Where to find the runs: a scheduler, or a run ledger.
    #[command(flatten)]
    pub from: RunSourceArgs,
    /// Show at most this many runs, newest first (0: all).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

/// Where `status` and `runs` find runs: a scheduler, or a run ledger.
#[derive(Debug, Args)]
pub struct RunSourceArgs {
    /// Ask this Strata scheduler (`HOST:PORT`) about the runs it holds. Without it, runs are read from the run
    /// ledger — --ledger's, or the warehouse's (`_strata/runs`) — which records the runs of every process; a
    /// --warehouse or --ledger given here reads the ledger even when STRATA_SCHEDULER is set.
    #[arg(long, env = "STRATA_SCHEDULER", value_name = "HOST:PORT")]
    pub scheduler: Option<String>,
    /// The login to the scheduler's job service, and TLS.
    #[command(flatten)]
    pub login: crate::flight::LoginArgs,
    /// The ledger to read: --ledger's, or the warehouse's own; --kafka-brokers is refused.
    #[command(flatten)]
    pub places: PlaceArgs,
}

/// Where runs are read from.
#[derive(Debug)]
pub enum RunSource {
    /// The job service of the scheduler at this `HOST:PORT`: the runs it holds.
    Scheduler(String),
    /// A run ledger: every run recorded in it, by any process.
    Ledger(Ledger),
}

impl RunSourceArgs {
    /// The scheduler or the ledger `strata <command>` reads: a ledger named here first (`--ledger` or
    /// `STRATA_LEDGER`, `--warehouse`), then the scheduler (`--scheduler` or `STRATA_SCHEDULER`), then the ledger of
    /// the default warehouse (`STRATA_WAREHOUSE` or `./warehouse`).
    pub fn source(&self, command: &str) -> Result<RunSource, CliError> {
        let places = &self.places;
        places.refuse(command, &[Place::KafkaBrokers], "it reads runs and runs no job")?;
        let ledger_named = !places.ledger.is_empty() || places.given(Place::Warehouse) == Given::CommandLine;
        match self.scheduler.as_deref().filter(|s| !s.is_empty()) {
            Some(scheduler) if !ledger_named => Ok(RunSource::Scheduler(scheduler.to_string())),
            _ => Ok(RunSource::Ledger(Ledger::open(
                &strata_connectors::location::Warehouse::parse(&places.warehouse)?,
                &places.ledger,
            )?)),
        }
    }
}

/// Send the job file (its text, parameters, mode and warehouse) to the scheduler and print the run id; with
/// `--wait`, follow the run to its end, print it, and fail if the run failed. --ledger is refused.
pub async fn submit(args: SubmitArgs, format: LogFormat) -> Result<(), CliError> {
    args.places.refuse(
        "submit",
        &[Place::Ledger],
        "the scheduler records runs where its own --ledger says",
    )?;
    let path = args.job.display().to_string();
    let text = std::fs::read_to_string(&args.job).map_err(|e| CliError::Usage(format!("{path}: {e}")))?;
    let params = strata_planner::Params::parse(&args.params).map_err(CliError::Usage)?;
    let addr = &args.addr.scheduler;
    args.mode.mode()?;
    let mut client = remote::connect_as(&args.login.client(addr)?).await?;
    let (mode, backfill_from, backfill_to) = args.mode.wire();
    let warehouse = match args.places.given(Place::Warehouse) {
        Given::Default => String::new(),
        Given::Env | Given::CommandLine => absolute(&args.places.warehouse),
    };
    let request = SubmitRequest {
        job_path: path,
        job_text: text,
        params: params
            .names()
            .filter_map(|n| params.get(n).map(|v| (n.to_string(), v.to_string())))
            .collect(),
        warehouse,
        // Only brokers named here go along: STRATA_KAFKA_BROKERS is this machine's setting, and a scheduler that
        // confines its jobs refuses brokers other than its own.
        kafka_brokers: match args.places.given(Place::KafkaBrokers) {
            Given::CommandLine => args.places.kafka_brokers.clone(),
            Given::Env | Given::Default => String::new(),
        },
        mode,
        backfill_from,
        backfill_to,
    };
    let run_id = client.submit(request).await.map_err(call_error(addr))?.run_id;
    if !args.wait {
        match format {
            LogFormat::Json => println!("{}", serde_json::json!({ "run_id": run_id })),
            LogFormat::Human => println!("{run_id}"),
        }
        return Ok(());
    }
    let run = remote::follow(&mut client, addr, &run_id).await?;
    print_remote(&run, format);
    match run.state.parse() {
        Ok(strata_planner::ledger::RunState::Failed) => Err(CliError::RunFailed {
            run_id,
            error: run.error,
        }),
        _ => Ok(()),
    }
}

fn print_remote(run: &strata_proto::job::RunInfo, format: LogFormat) {
    match format {
        LogFormat::Json => println!("{}", print::scheduler::run_json(run)),
        LogFormat::Human => print!("{}", print::scheduler::run_detail(run)),
    }
}

/// The run `run_id` names: the newest with that id, or with an id it begins (eight characters at least).
pub fn find_run<'a>(runs: &'a [LedgerRun], run_id: &str) -> Option<&'a LedgerRun> {
    runs.iter()
        .rev()
        .find(|r| r.run_id == run_id || (run_id.len() >= 8 && r.run_id.starts_with(run_id)))
}

/// Print one run, from the ledger or the scheduler (see [`RunSourceArgs::source`]), as text or one JSON object.
pub async fn status(args: StatusArgs, format: LogFormat) -> Result<(), CliError> {
    let scheduler = match args.from.source("status")? {
        RunSource::Scheduler(scheduler) => scheduler,
        RunSource::Ledger(ledger) => {
            let runs = ledger.runs().await?;
            let run = find_run(&runs, &args.run_id)
                .ok_or_else(|| CliError::Usage(format!("no run {} in {}", args.run_id, ledger.describe())))?;
            match format {
                LogFormat::Json => println!("{}", print::ledger::run_json(run)),
                LogFormat::Human => print!("{}", print::ledger::run_detail(run)),
            }
            return Ok(());
        }
    };
    let mut client = remote::connect_as(&args.from.login.client(&scheduler)?).await?;
    let run = client
        .status(StatusRequest { run_id: args.run_id })
        .await
        .map_err(call_error(&scheduler))?;
    print_remote(&run, format);
    Ok(())
}

/// Print the latest runs, newest first and at most `--limit` (0: all), from the ledger or the scheduler (see
/// [`RunSourceArgs::source`]), as a table or one JSON object per run.
pub async fn runs(args: RunsArgs, format: LogFormat) -> Result<(), CliError> {
    let scheduler = match args.from.source("runs")? {
        RunSource::Scheduler(scheduler) => scheduler,
        RunSource::Ledger(ledger) => {
            let mut runs = ledger.runs().await?;
            runs.reverse();
            if args.limit > 0 {
                runs.truncate(args.limit as usize);
            }
            match format {
                LogFormat::Json => runs.iter().for_each(|r| println!("{}", print::ledger::run_json(r))),
                LogFormat::Human => print!("{}", print::ledger::runs_table(&runs)),
            }
            return Ok(());
        }
    };
    let mut client = remote::connect_as(&args.from.login.client(&scheduler)?).await?;
    let runs = client
        .runs(RunsRequest { limit: args.limit })
        .await
        .map_err(call_error(&scheduler))?
        .runs;
    match format {
        LogFormat::Json => runs.iter().for_each(|r| println!("{}", print::scheduler::run_json(r))),
        LogFormat::Human => print!("{}", print::scheduler::runs_table(&runs)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;
    use strata_planner::ledger::RunState;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        from: RunSourceArgs,
    }

    fn source(args: &[&str]) -> Result<RunSource, CliError> {
        let mut argv = vec!["strata"];
        argv.extend_from_slice(args);
        Cmd::try_parse_from(argv).unwrap().from.source("runs")
    }

    #[test]
    fn a_named_ledger_wins_then_the_scheduler_then_the_default_warehouse() {
        assert!(matches!(
            source(&["--scheduler", "h:1"]),
            Ok(RunSource::Scheduler(s)) if s == "h:1"
        ));
        assert!(matches!(
            source(&["--scheduler", "h:1", "--warehouse", "/wh"]),
            Ok(RunSource::Ledger(Ledger::Delta { warehouse })) if warehouse.local_dir().as_deref() == Some(Path::new("/wh"))
        ));
        assert!(matches!(
            source(&["--scheduler", "h:1", "--ledger", "postgres://h/db?schema=ops"]),
            Ok(RunSource::Ledger(Ledger::Postgres(_)))
        ));
        assert!(matches!(
            source(&["--scheduler", ""]),
            Ok(RunSource::Ledger(Ledger::Delta { .. }))
        ));
        let err = source(&["--kafka-brokers", "k:9092"]).unwrap_err();
        assert!(
            err.to_string().starts_with("`strata runs` takes no --kafka-brokers"),
            "{err}"
        );
    }

    #[test]
    fn runs_are_found_by_id_or_an_id_prefix() {
        let run = |id: &str, state| LedgerRun {
            run_id: id.into(),
            job: "j.sql".into(),
            state,
            engine: "embedded".into(),
            mode: None,
            params: serde_json::Value::Null,
            started_at: String::new(),
            finished_at: None,
            elapsed_ms: None,
            error: None,
            failed_stage: None,
            summary: None,
            plan: None,
        };
        let runs = [
            run("0123456789ab", RunState::Failed),
            run("abcdef0123", RunState::Succeeded),
        ];
        assert_eq!(
            find_run(&runs, "abcdef0123").map(|r| r.state),
            Some(RunState::Succeeded)
        );
        assert_eq!(find_run(&runs, "01234567").map(|r| r.state), Some(RunState::Failed));
        assert!(find_run(&runs, "0123").is_none(), "prefixes are 8 characters at least");
    }
}
