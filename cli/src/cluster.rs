//! The cluster's process commands: `strata scheduler` and `strata executor` (serve until stopped), and a local
//! cluster on loopback, `strata cluster up` / `down`, supervised by [`crate::supervise`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::args::{FailpointArgs, Place, PlaceArgs, ProbeArgs, SchedulerAddr, absolute};
use crate::error::CliError;
use crate::supervise::{self, LISTENING, LocalCluster};

/// `strata scheduler`: where it listens, the places of submitted jobs, when executors count as lost, and an
/// optional Flight SQL endpoint.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on.
    #[arg(long, env = "STRATA_BIND", default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// Host name executors and clients reach this scheduler by (default: the bind address's IP).
    #[arg(long, env = "STRATA_EXTERNAL_HOST")]
    pub external_host: Option<String>,
    /// The warehouse is the one of submitted jobs that name none, and the ledger records every submitted run
    /// (each warehouse's own by default).
    #[command(flatten)]
    pub places: PlaceArgs,
    /// Crash tests only: where submitted runs abort their commit.
    #[command(flatten)]
    pub failpoint: FailpointArgs,
    /// Seconds without a heartbeat after which an executor is considered lost.
    #[arg(long, default_value_t = 5)]
    pub executor_timeout: u64,
    /// Seconds without any live executor after which a run fails.
    #[arg(long, default_value_t = 20)]
    pub no_executor_timeout: u64,
    /// Seconds a Ballista job may make no progress with nothing running before it is cancelled (its stage is then
    /// retried, and the run fails once the retries are spent).
    #[arg(long, env = "STRATA_STALL_TIMEOUT", default_value_t = 60)]
    pub stall_timeout: u64,
    /// Also serve Arrow Flight SQL over the warehouse on this address (users and TLS below).
    #[arg(long, env = "STRATA_FLIGHT_BIND")]
    pub flight_bind: Option<std::net::SocketAddr>,
    /// Who may submit jobs and connect to the Flight SQL endpoint: one users file for both (or --insecure for
    /// local development); --tls-cert/--tls-key serve TLS on --flight-bind and --submit-bind.
    #[command(flatten)]
    pub flight: crate::flight::FlightAuthArgs,
    /// Serve the job service (`strata submit`, `status`, `runs`) on an address of its own, over TLS with
    /// --tls-cert; --bind then carries executor traffic only.
    #[arg(long, env = "STRATA_SUBMIT_BIND", value_name = "ADDR")]
    pub submit_bind: Option<std::net::SocketAddr>,
    /// Require a client certificate signed by an authority of this PEM file on --submit-bind (mutual TLS).
    #[arg(long, env = "STRATA_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// A root (path or URL of any scheme: `s3://bucket/raw`, `/mnt/data`, `kafka://`, `postgres://db/x`)
    /// submitted jobs may read or write besides the warehouse; repeatable. Every other location is refused. `*`
    /// allows every location: only for a scheduler that runs its own user's jobs (`cluster up` passes it).
    #[arg(
        long = "allow-location",
        env = "STRATA_ALLOW_LOCATIONS",
        value_delimiter = ',',
        value_name = "ROOT"
    )]
    pub allow_locations: Vec<String>,
    /// `/livez` and `/readyz` (ready: serving, warehouse reachable, not draining).
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Seconds runs in progress may take to end after SIGTERM before they are stopped (nothing committed).
    #[arg(long, env = "STRATA_DRAIN_TIMEOUT", default_value_t = 60)]
    pub drain_timeout: u64,
}

/// `strata executor`: the scheduler it registers with, where it listens, and its work directory and task slots.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with.
    #[command(flatten)]
    pub addr: SchedulerAddr,
    /// Address to listen on, for both the Flight and the gRPC port.
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
    /// Memory all this executor's tasks share (`4G`, `512M`, bytes); sorts, aggregates and windows spill to the
    /// work directory beyond it. Default: unbounded.
    #[arg(long, env = "STRATA_MEMORY_LIMIT", value_parser = strata_planner::memory::parse_memory_limit)]
    pub memory_limit: Option<usize>,
    /// `/livez` and `/readyz` (ready: registered with the scheduler and not draining).
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Seconds running tasks may take to finish after SIGTERM before the executor exits anyway.
    #[arg(long, env = "STRATA_DRAIN_TIMEOUT", default_value_t = 120)]
    pub drain_timeout: u64,
}

/// `strata cluster`: start or stop a local cluster.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a scheduler and N executors on loopback, in the background.
    Up(UpArgs),
    /// Stop the cluster `up` started.
    Down(StateDir),
}

/// The directory of a local cluster, which `cluster up` fills and `cluster down` reads.
#[derive(Debug, Args)]
pub struct StateDir {
    /// Where the local cluster keeps its pids, logs and work directories.
    #[arg(long, env = "STRATA_CLUSTER_DIR", default_value = "./.strata/cluster")]
    pub dir: PathBuf,
}

/// `strata cluster up`: where the cluster lives, how many executors it has, and its scheduler's port and places.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the cluster keeps its state file, logs and work directories.
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
    /// Each executor's memory budget (`4G`, `512M`, bytes), shared by its tasks; they spill beyond it.
    #[arg(long, value_parser = crate::commands::memory_limit)]
    pub memory_limit: Option<String>,
    /// The scheduler's: the warehouse of submitted jobs that name none, the ledger of submitted runs, the Kafka
    /// brokers of submitted jobs' `kafka:///topic` tables.
    #[command(flatten)]
    pub places: PlaceArgs,
}

/// Serve the Strata scheduler until the process is stopped. The first stdout line says where it listens (a second
/// one where Flight SQL does, with --flight-bind); --kafka-brokers is refused.
pub async fn scheduler(args: SchedulerArgs) -> Result<(), CliError> {
    args.places.refuse(
        "scheduler",
        &[Place::KafkaBrokers],
        "submitted jobs that name no brokers use STRATA_KAFKA_BROKERS of its environment",
    )?;
    let external_host = args.external_host.unwrap_or_else(|| args.bind.ip().to_string());
    let flight = match args.flight_bind {
        Some(bind) => Some(args.flight.options(
            bind,
            strata_connectors::location::Warehouse::parse(&args.places.warehouse)?,
            strata_flight::Backend::Embedded,
        )),
        None => None,
    };
    let users = match (&args.flight.users, args.flight.insecure) {
        (Some(path), _) => Some(strata_flight::Users::load(path).map_err(|e| CliError::Flight(Box::new(e)))?),
        (None, true) => {
            tracing::warn!(
                "the scheduler runs INSECURE: anyone who reaches its job service may submit jobs; do not expose it \
                 beyond this machine"
            );
            None
        }
        (None, false) => {
            return Err(CliError::Usage(
                "`strata scheduler` needs a users file (--users, the one Flight SQL uses: `strata passwd USER` \
                 prints a line) for who may submit jobs, or --insecure for local development"
                    .into(),
            ));
        }
    };
    let submit_tls = match (&args.flight.tls_cert, &args.flight.tls_key) {
        (Some(cert), Some(key)) => Some(strata_scheduler::SubmitTls {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
        }),
        _ => None,
    };
    let options = strata_scheduler::SchedulerOptions {
        bind: args.bind,
        external_host,
        warehouse: absolute(&args.places.warehouse),
        ledger: args.places.ledger.clone(),
        failpoint: args.failpoint.name(),
        executor_timeout: Duration::from_secs(args.executor_timeout),
        no_executor_timeout: Duration::from_secs(args.no_executor_timeout),
        stall_timeout: Duration::from_secs(args.stall_timeout),
        flight,
        users,
        submit_bind: args.submit_bind,
        submit_tls,
        allowed_locations: args.allow_locations.clone(),
        http_bind: args.probes.http_bind,
        drain_timeout: Duration::from_secs(args.drain_timeout),
    };
    // The first stdout lines say where it listens (`--bind 127.0.0.1:0` picks free ports).
    strata_scheduler::serve_with(options, |bound| {
        println!("{LISTENING}{}", bound.scheduler);
        if let Some(flight) = bound.flight {
            println!("Flight SQL listening on {flight}");
        }
        if bound.submit != bound.scheduler {
            println!("Job service listening on {}", bound.submit);
        }
        if let Some(http) = bound.http {
            println!("HTTP probes listening on {http}");
        }
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })
    .await
    .map_err(CliError::from)
}

/// Serve an executor that registers with the scheduler (heartbeat every second) until the process is stopped.
pub async fn executor(args: ExecutorArgs) -> Result<(), CliError> {
    let external_host = args.external_host.clone().unwrap_or_else(|| args.bind_host.clone());
    strata_executor::serve_with(
        strata_executor::ExecutorOptions {
            scheduler: args.addr.scheduler,
            bind_host: args.bind_host,
            external_host,
            flight_port: args.flight_port,
            grpc_port: args.grpc_port,
            work_dir: args.work_dir,
            vcores: args.vcores,
            memory_limit: args.memory_limit,
            heartbeat_seconds: 1,
            http_bind: args.probes.http_bind,
            drain_timeout: Duration::from_secs(args.drain_timeout),
        },
        |http| {
            println!("HTTP probes listening on {http}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        },
    )
    .await
    .map_err(CliError::from)
}

/// Start a local cluster in the background, wait until every executor has registered, and print its scheduler's
/// address; an error if a cluster is already up in the directory.
pub async fn up(args: UpArgs) -> Result<(), CliError> {
    let dir = std::path::absolute(&args.state.dir).map_err(|e| CliError::Usage(e.to_string()))?;
    let strata = std::env::current_exe().map_err(|source| CliError::CurrentExe { source })?;
    let cluster = LocalCluster {
        dir: dir.clone(),
        executors: args.executors,
        port: args.port,
        vcores: args.vcores,
        memory_limit: args.memory_limit.clone(),
        warehouse: absolute(&args.places.warehouse),
        ledger: args.places.ledger.clone(),
        kafka_brokers: args.places.kafka_brokers.clone(),
    };
    let state = cluster.up(&strata).await?;
    println!(
        "scheduler {} with {} executors (logs in {})",
        state.scheduler,
        state.executor_pids.len(),
        dir.display()
    );
    Ok(())
}

/// Stop the local cluster of the directory (TERM, then KILL after a grace period) and forget it; an error if none
/// is up there.
pub async fn down(args: StateDir) -> Result<(), CliError> {
    let state = supervise::down(&args.dir)?;
    println!(
        "stopped scheduler {} and {} executors",
        state.scheduler,
        state.executor_pids.len()
    );
    Ok(())
}
