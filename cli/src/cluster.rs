//! Cluster subcommands: the scheduler and executor processes, job submission and run status, and a local
//! cluster on loopback (`cluster up` / `cluster down`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use strata_planner::ledger::RunState;
use strata_proto::job::service::job_service_client::JobServiceClient;
use strata_proto::job::{HealthRequest, RunInfo, RunsRequest, StatusRequest, SubmitRequest};
use tonic::transport::Channel;

use crate::LogFormat;
use crate::commands::{CliError, Given, Place, PlaceArgs};
use strata_planner::ledger::Ledger;

/// Where a client finds the scheduler.
#[derive(Debug, Args)]
pub struct SchedulerAddr {
    /// The Strata scheduler, `HOST:PORT`.
    #[arg(long, env = "STRATA_SCHEDULER", default_value = "127.0.0.1:50050")]
    pub scheduler: String,
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, env = "STRATA_BIND", default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// Host name executors and clients reach this scheduler by (default: the bind address's IP).
    #[arg(long, env = "STRATA_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// Warehouse for submitted jobs that do not name one.
    #[arg(long, env = "STRATA_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,
    /// Where submitted runs are recorded: each warehouse's own ledger by default, or a PostgreSQL schema
    /// (`postgres://host:port/db?schema=…`).
    #[arg(long, env = "STRATA_LEDGER", default_value = "")]
    pub ledger: String,
    /// Seconds without a heartbeat after which an executor is considered lost.
    #[arg(long, default_value_t = 5)]
    pub executor_timeout: u64,
    /// Seconds without any live executor after which a run fails.
    #[arg(long, default_value_t = 20)]
    pub no_executor_timeout: u64,
    /// Also serve Arrow Flight SQL over the warehouse on this address (users and TLS below).
    #[arg(long, env = "STRATA_FLIGHT_BIND")]
    pub flight_bind: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub flight: crate::flight::FlightAuthArgs,
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    #[command(flatten)]
    pub addr: SchedulerAddr,
    #[arg(long, env = "STRATA_BIND_HOST", default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Host name others reach this executor by (default: the bind host).
    #[arg(long, env = "STRATA_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// Arrow Flight port for shuffle and results (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub flight_port: u16,
    /// gRPC port for task launches (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub grpc_port: u16,
    /// Directory for shuffle files and spills.
    #[arg(long, env = "STRATA_WORK_DIR", default_value = "./.strata/executor")]
    pub work_dir: PathBuf,
    /// Task slots (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub vcores: usize,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job file.
    pub job: PathBuf,
    #[command(flatten)]
    pub addr: SchedulerAddr,
    /// A job parameter `NAME=VALUE`; repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Warehouse as the cluster sees it (a relative local path is made absolute here).
    #[arg(long, env = "STRATA_WAREHOUSE")]
    pub warehouse: Option<String>,
    /// Kafka bootstrap servers for Kafka tables whose LOCATION names none (`kafka:///topic`).
    #[arg(long, env = "STRATA_KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
    /// Wait for the run to end; exit non-zero if it fails.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub mode: crate::commands::ModeArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub run_id: String,
    #[command(flatten)]
    pub from: RunSourceArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
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
    #[command(flatten)]
    pub places: PlaceArgs,
}

/// Where runs are read from.
pub enum RunSource {
    Scheduler(String),
    Ledger(Ledger),
}

impl RunSourceArgs {
    /// The scheduler or the ledger `strata <command>` reads: a ledger named here first, then the scheduler
    /// (`--scheduler` or `STRATA_SCHEDULER`), then the ledger of the default warehouse (`STRATA_WAREHOUSE` or
    /// `./warehouse`), the one `strata run` records in.
    pub fn source(&self, command: &str) -> Result<RunSource, CliError> {
        let places = &self.places;
        places.refuse(command, &[Place::KafkaBrokers], "it reads runs and runs no job")?;
        let ledger_named = !places.ledger.is_empty() || places.given(Place::Warehouse) == Given::CommandLine;
        match self.scheduler.as_deref().filter(|s| !s.is_empty()) {
            Some(scheduler) if !ledger_named => Ok(RunSource::Scheduler(scheduler.to_string())),
            _ => Ok(RunSource::Ledger(Ledger::open(
                Path::new(&places.warehouse),
                &places.ledger,
            )?)),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a scheduler and N executors on loopback, in the background.
    Up(UpArgs),
    /// Stop the cluster `up` started.
    Down(StateDir),
}

#[derive(Debug, Args)]
pub struct StateDir {
    /// Where the local cluster keeps its pids, logs and work directories.
    #[arg(long, env = "STRATA_CLUSTER_DIR", default_value = "./.strata/cluster")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub state: StateDir,
    /// Number of executor processes.
    #[arg(long, default_value_t = 2)]
    pub executors: usize,
    /// Scheduler port (0: any free port).
    #[arg(long, default_value_t = 50050)]
    pub port: u16,
    /// Task slots per executor (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub vcores: usize,
    /// Default warehouse of the scheduler.
    #[arg(long, env = "STRATA_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,
    /// Where submitted runs are recorded: the warehouse's own ledger by default, or a PostgreSQL schema
    /// (`postgres://host:port/db?schema=…`).
    #[arg(long, env = "STRATA_LEDGER", default_value = "")]
    pub ledger: String,
}

/// What `cluster up` leaves for `cluster down` (and for scripts: the scheduler address and the pids).
#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterState {
    pub scheduler: String,
    pub scheduler_pid: u32,
    pub executor_pids: Vec<u32>,
}

async fn client(addr: &str) -> Result<JobServiceClient<Channel>, CliError> {
    let endpoint = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| CliError::Usage(format!("bad scheduler address '{addr}': {e}")))?
        .connect_timeout(Duration::from_secs(5));
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| CliError::Cluster(format!("cannot reach the Strata scheduler at {addr}: {e}")))?;
    Ok(JobServiceClient::new(channel).max_decoding_message_size(64 << 20))
}

fn status_err(addr: &str) -> impl Fn(tonic::Status) -> CliError + '_ {
    move |s| match s.code() {
        tonic::Code::InvalidArgument | tonic::Code::NotFound => CliError::Cluster(s.message().to_string()),
        _ => CliError::Cluster(format!("scheduler at {addr}: {}", s.message())),
    }
}

pub async fn scheduler(args: SchedulerArgs) -> Result<(), CliError> {
    let external_host = args.external_host.unwrap_or_else(|| args.bind.ip().to_string());
    let flight = args.flight_bind.map(|bind| {
        args.flight.options(
            bind,
            PathBuf::from(absolute(&args.warehouse)),
            strata_scheduler::flight::Backend::Embedded,
        )
    });
    let options = strata_scheduler::SchedulerOptions {
        bind: args.bind,
        external_host,
        warehouse: absolute(&args.warehouse),
        ledger: args.ledger.clone(),
        executor_timeout: Duration::from_secs(args.executor_timeout),
        no_executor_timeout: Duration::from_secs(args.no_executor_timeout),
        flight,
    };
    // The first stdout lines say where it listens (`--bind 127.0.0.1:0` picks free ports).
    strata_scheduler::serve_with(options, |bound| {
        println!("{LISTENING}{}", bound.scheduler);
        if let Some(flight) = bound.flight {
            println!("Flight SQL listening on {flight}");
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })
    .await
    .map_err(|e| CliError::Cluster(e.to_string()))
}

pub async fn executor(args: ExecutorArgs) -> Result<(), CliError> {
    let external_host = args.external_host.clone().unwrap_or_else(|| args.bind_host.clone());
    strata_executor::serve(strata_executor::ExecutorOptions {
        scheduler: args.addr.scheduler,
        bind_host: args.bind_host,
        external_host,
        flight_port: args.flight_port,
        grpc_port: args.grpc_port,
        work_dir: args.work_dir,
        vcores: args.vcores,
        heartbeat_seconds: 1,
    })
    .await
    .map_err(|e| CliError::Cluster(e.to_string()))
}

/// A local path made absolute against this process's directory; URLs unchanged.
fn absolute(warehouse: &str) -> String {
    if warehouse.contains("://") {
        return warehouse.to_string();
    }
    std::path::absolute(warehouse)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| warehouse.to_string())
}

pub async fn submit(args: SubmitArgs, format: LogFormat) -> Result<(), CliError> {
    let path = args.job.display().to_string();
    let text = std::fs::read_to_string(&args.job).map_err(|e| CliError::Usage(format!("{path}: {e}")))?;
    let params = strata_planner::Params::parse(&args.params).map_err(CliError::Usage)?;
    let mut client = client(&args.addr.scheduler).await?;
    args.mode.mode()?;
    let (mode, backfill_from, backfill_to) = args.mode.wire();
    let request = SubmitRequest {
        job_path: path,
        job_text: text,
        params: params
            .names()
            .filter_map(|n| params.get(n).map(|v| (n.to_string(), v.to_string())))
            .collect(),
        warehouse: args.warehouse.as_deref().map(absolute).unwrap_or_default(),
        kafka_brokers: args.kafka_brokers.clone().unwrap_or_default(),
        mode,
        backfill_from,
        backfill_to,
    };
    let run_id = client
        .submit(request)
        .await
        .map_err(status_err(&args.addr.scheduler))?
        .into_inner()
        .run_id;
    if !args.wait {
        match format {
            LogFormat::Json => println!("{}", serde_json::json!({ "run_id": run_id })),
            LogFormat::Human => println!("{run_id}"),
        }
        return Ok(());
    }
    loop {
        let run = client
            .status(StatusRequest { run_id: run_id.clone() })
            .await
            .map_err(status_err(&args.addr.scheduler))?
            .into_inner();
        match run.state.parse::<RunState>() {
            Ok(RunState::Succeeded) => {
                print_run(&run, format);
                return Ok(());
            }
            Ok(RunState::Failed) => {
                print_run(&run, format);
                return Err(CliError::Cluster(format!("run {run_id} failed: {}", run.error)));
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn status(args: StatusArgs, format: LogFormat) -> Result<(), CliError> {
    let scheduler = match args.from.source("status")? {
        RunSource::Ledger(ledger) => return crate::ledger::status(&ledger, &args.run_id, format).await,
        RunSource::Scheduler(scheduler) => scheduler,
    };
    let mut client = client(&scheduler).await?;
    let run = client
        .status(StatusRequest { run_id: args.run_id })
        .await
        .map_err(status_err(&scheduler))?
        .into_inner();
    print_run(&run, format);
    Ok(())
}

pub async fn runs(args: RunsArgs, format: LogFormat) -> Result<(), CliError> {
    let scheduler = match args.from.source("runs")? {
        RunSource::Ledger(ledger) => return crate::ledger::runs(&ledger, args.limit, format).await,
        RunSource::Scheduler(scheduler) => scheduler,
    };
    let mut client = client(&scheduler).await?;
    let runs = client
        .runs(RunsRequest { limit: args.limit })
        .await
        .map_err(status_err(&scheduler))?
        .into_inner()
        .runs;
    match format {
        LogFormat::Json => {
            for run in &runs {
                println!("{}", run_json(run));
            }
        }
        LogFormat::Human => {
            println!("{:<36}  {:<10}  {:>9}  JOB", "RUN", "STATE", "SECONDS");
            for run in &runs {
                println!(
                    "{:<36}  {:<10}  {:>9}  {}",
                    run.run_id,
                    run.state,
                    elapsed(run),
                    run.job
                );
            }
        }
    }
    Ok(())
}

fn elapsed(run: &RunInfo) -> String {
    let end = if run.ended_at_ms > 0 {
        run.ended_at_ms
    } else {
        chrono::Utc::now().timestamp_millis()
    };
    format!("{:.1}", (end - run.started_at_ms).max(0) as f64 / 1000.0)
}

fn run_json(run: &RunInfo) -> serde_json::Value {
    serde_json::json!({
        "run_id": run.run_id,
        "job": run.job,
        "state": run.state,
        "started_at_ms": run.started_at_ms,
        "ended_at_ms": run.ended_at_ms,
        "error": run.error,
        "stages": run.stages.iter().map(|s| serde_json::json!({
            "stage": s.name, "kind": s.kind, "state": s.state, "rows": s.rows,
            "elapsed_ms": s.elapsed_ms, "retries": s.retries,
        })).collect::<Vec<_>>(),
        "outputs": run.outputs.iter().map(|o| serde_json::json!({
            "table": o.table, "location": o.location, "version": o.version, "rows": o.rows,
        })).collect::<Vec<_>>(),
        "sources": run.sources.iter().map(|s| serde_json::json!({
            "table": s.table, "topic": s.topic, "messages": s.messages, "malformed": s.malformed, "lag": s.lag,
            "recovery": s.recovery,
        })).collect::<Vec<_>>(),
    })
}

fn print_run(run: &RunInfo, format: LogFormat) {
    if format == LogFormat::Json {
        println!("{}", run_json(run));
        return;
    }
    println!("run {}  {}  ({} s)  {}", run.run_id, run.state, elapsed(run), run.job);
    if !run.error.is_empty() {
        println!("error: {}", run.error);
    }
    println!(
        "  {:<28} {:<7} {:<10} {:>12} {:>9}",
        "STAGE", "KIND", "STATE", "ROWS", "SECONDS"
    );
    for s in &run.stages {
        let rows = s.rows.map(|r| r.to_string()).unwrap_or_default();
        let state = if s.retries > 0 && s.state == RunState::Succeeded.as_str() {
            format!("succeeded ({} retries)", s.retries)
        } else {
            s.state.clone()
        };
        println!(
            "  {:<28} {:<7} {:<10} {:>12} {:>9.2}",
            s.name,
            s.kind,
            state,
            rows,
            s.elapsed_ms as f64 / 1000.0
        );
    }
    for o in &run.outputs {
        println!("  committed {} version {} ({} rows)", o.table, o.version, o.rows);
    }
    for s in &run.sources {
        println!(
            "  read {} from topic {}: {} messages ({} malformed), lag {}{}",
            s.table,
            s.topic,
            s.messages,
            s.malformed,
            s.lag,
            if s.recovery { ", recovery run" } else { "" }
        );
    }
}

fn spawn(dir: &Path, name: &str, args: &[String]) -> Result<u32, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Cluster(format!("cannot find the strata binary: {e}")))?;
    let log = std::fs::File::create(dir.join(format!("{name}.log")))
        .map_err(|e| CliError::Cluster(format!("{}: {e}", dir.display())))?;
    let err = log
        .try_clone()
        .map_err(|e| CliError::Cluster(format!("{}: {e}", dir.display())))?;
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own process group: the cluster outlives the `up` command and a Ctrl-C in its terminal.
        .process_group(0)
        .spawn()
        .map_err(|e| CliError::Cluster(format!("cannot start {name}: {e}")))?;
    Ok(child.id())
}

/// The line a scheduler prints once it listens, followed by its address.
const LISTENING: &str = "Scheduler listening on ";

/// The address a scheduler writing its log to `log` says it listens on, once it does.
async fn listening(log: &Path, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(log)
            && let Some(addr) = text.lines().find_map(|l| l.strip_prefix(LISTENING))
        {
            return Some(addr.trim().to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("cluster.json")
}

pub async fn up(args: UpArgs) -> Result<(), CliError> {
    let dir = std::path::absolute(&args.state.dir).map_err(|e| CliError::Usage(e.to_string()))?;
    if state_file(&dir).exists() {
        return Err(CliError::Cluster(format!(
            "a cluster is already up ({}); run `strata cluster down --dir {}` first",
            state_file(&dir).display(),
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(|e| CliError::Cluster(format!("{}: {e}", dir.display())))?;
    // Port 0: the scheduler binds a free port itself and says which (no window for another process to take it).
    let bind = format!("127.0.0.1:{}", args.port);
    let scheduler_pid = spawn(
        &dir,
        "scheduler",
        &[
            "--log".into(),
            "info".into(),
            "scheduler".into(),
            "--bind".into(),
            bind,
            "--warehouse".into(),
            absolute(&args.warehouse),
            "--ledger".into(),
            args.ledger.clone(),
        ],
    )?;
    let scheduler = match listening(&dir.join("scheduler.log"), Duration::from_secs(60)).await {
        Some(addr) => addr,
        None => {
            signal(scheduler_pid, libc::SIGKILL);
            return Err(CliError::Cluster(format!(
                "the scheduler did not start within 60 s; see {}",
                dir.join("scheduler.log").display()
            )));
        }
    };
    let mut state = ClusterState {
        scheduler: scheduler.clone(),
        scheduler_pid,
        executor_pids: Vec::new(),
    };
    for i in 0..args.executors {
        let work = dir.join(format!("executor-{i}"));
        let pid = spawn(
            &dir,
            &format!("executor-{i}"),
            &[
                "--log".into(),
                "info".into(),
                "executor".into(),
                "--scheduler".into(),
                scheduler.clone(),
                "--work-dir".into(),
                work.display().to_string(),
                "--vcores".into(),
                args.vcores.to_string(),
            ],
        )?;
        state.executor_pids.push(pid);
    }
    let json = serde_json::to_string_pretty(&state).map_err(|e| CliError::Cluster(e.to_string()))?;
    std::fs::write(state_file(&dir), json).map_err(|e| CliError::Cluster(e.to_string()))?;

    // Ready when the scheduler answers and every executor has registered.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut c) = client(&scheduler).await
            && let Ok(h) = c.health(HealthRequest {}).await
            && h.into_inner().alive_executors as usize >= args.executors
        {
            break;
        }
        if Instant::now() > deadline {
            stop(&state);
            let _ = std::fs::remove_file(state_file(&dir));
            return Err(CliError::Cluster(format!(
                "the cluster did not come up within 60 s; see the logs in {}",
                dir.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "scheduler {scheduler} with {} executors (logs in {})",
        args.executors,
        dir.display()
    );
    Ok(())
}

fn signal(pid: u32, sig: i32) -> bool {
    // SAFETY: kill(2) with a pid we started; no memory is involved.
    unsafe { libc::kill(pid as i32, sig) == 0 }
}

fn stop(state: &ClusterState) {
    let pids: Vec<u32> = state
        .executor_pids
        .iter()
        .copied()
        .chain([state.scheduler_pid])
        .collect();
    for &pid in &pids {
        signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && pids.iter().any(|&p| signal(p, 0)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for &pid in &pids {
        signal(pid, libc::SIGKILL);
    }
}

pub async fn down(args: StateDir) -> Result<(), CliError> {
    let file = state_file(&args.dir);
    let text = std::fs::read_to_string(&file)
        .map_err(|_| CliError::Cluster(format!("no cluster is up here ({} not found)", file.display())))?;
    let state: ClusterState = serde_json::from_str(&text).map_err(|e| CliError::Cluster(e.to_string()))?;
    stop(&state);
    std::fs::remove_file(&file).map_err(|e| CliError::Cluster(e.to_string()))?;
    println!(
        "stopped scheduler {} and {} executors",
        state.scheduler,
        state.executor_pids.len()
    );
    Ok(())
}
