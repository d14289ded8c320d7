//! The Strata scheduler: a Ballista scheduler that plans with Strata's functions, table providers and codecs,
//! plus Strata's job service on the same port. Clients submit whole job files; the scheduler plans them and
//! runs their stage DAG itself (so a submitting process may exit), keeping each run's state for `strata status`.
//! When asked, it also serves Arrow Flight SQL (`strata-flight`) with queries running on its executors.
//!
//! Ports: Ballista's scheduler service (executors register and fetch work: plain gRPC, meant for the cluster's
//! own network) and, unless a submission address of its own is given, the job service; the job service on its
//! own address (`submit`), where it can be served over TLS (and mutual TLS); Flight SQL; HTTP probes
//! (`/livez`, `/readyz`: ready once the scheduler runs, its warehouse answers and it is not draining).
//! SIGTERM (or Ctrl-C) drains: no new run is taken, runs in progress get the drain timeout to end (those
//! committing always finish), the rest are stopped with nothing committed, then [`serve_with`] returns.

#![warn(missing_docs)]

mod jobs;
mod slots;
mod tasks;
mod watchdog;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use strata_planner::engine;
use strata_proto::job::service::job_service_server::JobServiceServer;

pub use jobs::{JobService, Scheduler};

/// Errors starting or serving the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The scheduler's address could not be bound (already in use, not this host's, or not permitted).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for ([`SchedulerOptions::bind`]).
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// Ballista could not set up the scheduler (its cluster state or the scheduler itself).
    #[error("scheduler: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// Serving failed after the address was bound.
    #[error("scheduler: {0}")]
    Serve(#[from] std::io::Error),
    /// The Flight SQL server, or the job service's TLS, could not start.
    #[error(transparent)]
    Flight(#[from] strata_flight::FlightError),
    /// The options contradict each other or name something unusable.
    #[error("scheduler: {0}")]
    Config(String),
}

impl From<SchedulerError> for datafusion::error::DataFusionError {
    fn from(e: SchedulerError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to listen on (Ballista's scheduler service and Strata's job service).
    pub bind: SocketAddr,
    /// Host name executors and clients use to reach this scheduler.
    pub external_host: String,
    /// Default warehouse for submitted jobs.
    pub warehouse: String,
    /// Where submitted runs are recorded (empty: each warehouse's own ledger).
    pub ledger: String,
    /// Crash tests only: where submitted runs abort their commit (`strata.failpoint`); empty for nowhere.
    pub failpoint: String,
    /// An executor that has not sent a heartbeat for this long is considered lost.
    pub executor_timeout: Duration,
    /// A run fails when no executor has been alive for this long.
    pub no_executor_timeout: Duration,
    /// A Ballista job with nothing running that makes no progress for this long is cancelled (its stage retried).
    pub stall_timeout: Duration,
    /// Also serve Arrow Flight SQL with these options; its queries run on this scheduler's executors.
    pub flight: Option<strata_flight::FlightOptions>,
    /// Who may call the job service (the users file Flight SQL uses); `None` for anyone (local development).
    pub users: Option<strata_flight::Users>,
    /// Serve the job service on an address of its own (where TLS is possible) instead of Ballista's.
    pub submit_bind: Option<SocketAddr>,
    /// TLS for the job service's own address: certificate chain, private key and, for mutual TLS, the client
    /// certificate authority.
    pub submit_tls: Option<SubmitTls>,
    /// Roots (paths or URLs) submitted jobs may use besides the warehouse; every other location is refused.
    pub allowed_locations: Vec<String>,
    /// Serve `/livez` and `/readyz` here.
    pub http_bind: Option<SocketAddr>,
    /// On SIGTERM, how long runs in progress may take to end before they are stopped.
    pub drain_timeout: Duration,
}

/// TLS for the job service's own address.
#[derive(Debug, Clone)]
pub struct SubmitTls {
    /// PEM certificate chain.
    pub cert: std::path::PathBuf,
    /// PEM private key.
    pub key: std::path::PathBuf,
    /// PEM authorities of client certificates: required from every client when given.
    pub client_ca: Option<std::path::PathBuf>,
}

/// Where a started scheduler listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The address the scheduler and the job service listen on, with the port actually bound.
    pub scheduler: SocketAddr,
    /// Where Flight SQL listens; `None` when it is not served.
    pub flight: Option<SocketAddr>,
    /// Where the job service listens (the scheduler's address unless it has its own).
    pub submit: SocketAddr,
    /// Where the HTTP probes listen; `None` when they are not served.
    pub http: Option<SocketAddr>,
}

/// Start the scheduler and serve until the process ends.
pub async fn serve(options: SchedulerOptions) -> Result<(), SchedulerError> {
    serve_with(options, |_| {}).await
}

/// [`serve`], calling `ready` once every port is bound (port 0 binds any free port: `ready` says which).
pub async fn serve_with(options: SchedulerOptions, ready: impl FnOnce(&Bound)) -> Result<(), SchedulerError> {
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| SchedulerError::Bind {
            addr: options.bind,
            source,
        })?;
    let addr = listener.local_addr()?;
    let flight_addr = match options.flight.clone() {
        Some(flight_options) => {
            // Flight SQL queries run on the executors, through a client of this very scheduler.
            let own = if addr.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], addr.port()))
            } else {
                addr
            };
            let flight_options = flight_options.with_backend(strata_flight::Backend::Scheduler {
                address: own.to_string(),
            });
            let (flight_addr, server) = strata_flight::bind(flight_options).await?;
            tokio::spawn(async move {
                if let Err(e) = server.await {
                    tracing::error!(error = %e, "the Flight SQL server stopped");
                }
            });
            Some(flight_addr)
        }
        None => None,
    };
    let timeout = options.executor_timeout.as_secs().max(2);
    let mut config = SchedulerConfig::default()
        .with_hostname(options.external_host.clone())
        .with_port(addr.port())
        .with_override_config_producer(engine::config_producer())
        .with_override_session_builder(Arc::new(engine::scheduler_session))
        .with_no_executors_grace_period_seconds(timeout);
    config.bind_host = addr.ip().to_string();
    config.override_logical_codec = Some(Arc::new(strata_proto::StrataLogicalCodec::default()));
    config.override_physical_codec = Some(Arc::new(strata_proto::StrataPhysicalCodec::default()));
    config.executor_timeout_seconds = timeout;
    config.expire_dead_executor_interval_seconds = 1;
    let memory = BallistaCluster::new_from_config(&config).await?;
    // Ballista's cluster state, with books of each executor's reserved task slots (see `slots`).
    let books = Arc::new(slots::SlotBooks::new(memory.cluster_state()));
    let job_state = memory.job_state();
    let cluster = BallistaCluster::new(books.clone(), job_state.clone());
    let scheduler: Scheduler = create_scheduler(cluster, Arc::new(config)).await?;
    tokio::spawn(watchdog::watch(
        scheduler.clone(),
        books,
        options.stall_timeout,
        Duration::from_secs(1),
    ));

    let confinement = strata_planner::Confinement::new(&options.warehouse, &options.allowed_locations)
        .map_err(SchedulerError::Config)?;
    let auth = Arc::new(strata_flight::auth::Authenticator::new(
        options.users.clone(),
        options.users.is_none(),
    ));
    let jobs = JobService::new(
        scheduler.clone(),
        format!("{}:{}", options.external_host, addr.port()),
        options.warehouse.clone(),
        options.ledger.clone(),
        options.executor_timeout,
        options.no_executor_timeout,
    )
    .with_failpoint(options.failpoint.clone())
    .with_auth(auth)
    .with_confinement(confinement)
    .with_task_log(Arc::new(tasks::BallistaTasks::new(job_state)));
    let max_message = scheduler.state.config.grpc_server_max_decoding_message_size as usize;
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        SchedulerGrpcServer::new(scheduler.clone())
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    );
    let submit = match options.submit_bind {
        None => {
            if options.submit_tls.is_some() {
                return Err(SchedulerError::Config(
                    "TLS for submissions needs an address of their own (--submit-bind): executors reach the \
                     scheduler's --bind in plain gRPC"
                        .into(),
                ));
            }
            // Ballista's own service on this port takes queries without credentials: a login on the same port
            // would only look like protection. It may share the port on loopback (one machine) only.
            if options.users.is_some() && !addr.ip().is_loopback() {
                return Err(SchedulerError::Config(format!(
                    "--users on {addr} needs --submit-bind: the job service would share --bind with Ballista's \
                     scheduler service, which takes queries without credentials; give submissions an address of \
                     their own and keep --bind reachable only by executors"
                )));
            }
            routes.add_service(tower::Layer::layer(
                &strata_flight::metered::MeteredLayer,
                JobServiceServer::new(jobs.clone()),
            ));
            addr
        }
        Some(bind) => serve_submissions(bind, jobs.clone(), options.submit_tls.as_ref()).await?,
    };
    {
        // For /metrics (and the "executors lost" alert): how many executors are alive, every few seconds.
        let jobs = jobs.clone();
        tokio::spawn(async move {
            loop {
                let alive = jobs.alive_executors().await;
                metrics::gauge!(strata_connectors::metrics::SCHEDULER_EXECUTORS).set(alive as f64);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
    }
    let http = match options.http_bind {
        Some(bind) => {
            let store = strata_planner::probes::StoreProbe::start(
                strata_connectors::location::Warehouse::parse(&options.warehouse)
                    .map_err(|e| SchedulerError::Config(e.to_string()))?,
                Duration::from_secs(10),
            );
            let listed = jobs.clone();
            let jobs = jobs.clone();
            let ready: strata_planner::probes::Ready = Arc::new(move || {
                if !jobs.is_accepting() {
                    return Err("draining: the scheduler is shutting down".into());
                }
                store.state()
            });
            let warehouse = strata_connectors::location::Warehouse::parse(&options.warehouse)
                .map_err(|e| SchedulerError::Config(e.to_string()))?;
            let ledger = strata_planner::ledger::Ledger::open(&warehouse, &options.ledger)
                .map_err(|e| SchedulerError::Config(e.to_string()))?;
            let console = strata_flight::console::router(strata_flight::console::ConsoleOptions {
                warehouse,
                ledger,
                users: options.users.clone(),
                insecure: options.users.is_none(),
                executors: Some(Arc::new(move || {
                    let jobs = listed.clone();
                    Box::pin(async move { jobs.executors().await })
                })),
                backend: strata_flight::Backend::Embedded,
            });
            Some(strata_planner::probes::serve_with(bind, ready, console).await?)
        }
        None => None,
    };
    let router = routes.routes().into_axum_router();
    tracing::info!(%addr, %submit, "Strata scheduler listening");
    ready(&Bound {
        scheduler: addr,
        flight: flight_addr,
        submit,
        http,
    });
    // Ballista reads executors' addresses from the connection when they do not advertise one.
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>());
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let server = tokio::spawn(async move { server.await });
    tokio::select! {
        served = server => return served.map_err(|e| SchedulerError::Serve(std::io::Error::other(e)))?.map_err(SchedulerError::from),
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Executors keep being served while the runs drain: the server task runs until the process exits.
    tracing::info!(
        timeout_s = options.drain_timeout.as_secs(),
        "stopping: draining runs in progress"
    );
    let stopped = jobs.drain(options.drain_timeout).await;
    tracing::info!(stopped, "scheduler drained and stopped");
    Ok(())
}

/// Serve the job service on `bind`, authenticated as configured, over TLS when `tls` is given.
async fn serve_submissions(
    bind: SocketAddr,
    jobs: JobService,
    tls: Option<&SubmitTls>,
) -> Result<SocketAddr, SchedulerError> {
    let acceptor = match tls {
        Some(tls) => Some(strata_flight::tls::acceptor_verifying(
            &tls.cert,
            &tls.key,
            tls.client_ca.as_deref(),
        )?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| SchedulerError::Bind { addr: bind, source })?;
    let bound = listener.local_addr()?;
    let routes = tonic::service::Routes::new(JobServiceServer::new(jobs));
    let shutdown = std::future::pending::<()>();
    tokio::spawn(async move {
        let served = match acceptor {
            Some(acceptor) => strata_flight::tls::serve_tls(listener, acceptor, routes, shutdown).await,
            None => strata_flight::tls::serve_plain(listener, routes, shutdown).await,
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "the job service stopped");
        }
    });
    tracing::info!(%bound, tls = tls.is_some(), "job service listening on its own address");
    Ok(bound)
}
