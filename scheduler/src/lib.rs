//! The Strata scheduler: a Ballista scheduler that plans with Strata's functions, table providers and codecs,
//! plus Strata's job service on the same port. Clients submit whole job files; the scheduler plans them and
//! runs their stage DAG itself (so a submitting process may exit), keeping each run's state for `strata status`.
//! When asked, it also serves Arrow Flight SQL (`strata-flight`) with queries running on its executors.

#![warn(missing_docs)]

mod jobs;
mod slots;
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
    /// The Flight SQL server could not start.
    #[error(transparent)]
    Flight(#[from] strata_flight::FlightError),
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
}

/// Where a started scheduler listens.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The address the scheduler and the job service listen on, with the port actually bound.
    pub scheduler: SocketAddr,
    /// Where Flight SQL listens; `None` when it is not served.
    pub flight: Option<SocketAddr>,
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
    let cluster = BallistaCluster::new(books.clone(), memory.job_state());
    let scheduler: Scheduler = create_scheduler(cluster, Arc::new(config)).await?;
    tokio::spawn(watchdog::watch(
        scheduler.clone(),
        books,
        options.stall_timeout,
        Duration::from_secs(1),
    ));

    let jobs = JobService::new(
        scheduler.clone(),
        format!("{}:{}", options.external_host, addr.port()),
        options.warehouse.clone(),
        options.ledger.clone(),
        options.executor_timeout,
        options.no_executor_timeout,
    )
    .with_failpoint(options.failpoint.clone());
    let max_message = scheduler.state.config.grpc_server_max_decoding_message_size as usize;
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(
        SchedulerGrpcServer::new(scheduler.clone())
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
    );
    routes.add_service(JobServiceServer::new(jobs));
    let router = routes.routes().into_axum_router();
    tracing::info!(%addr, "Strata scheduler listening");
    ready(&Bound {
        scheduler: addr,
        flight: flight_addr,
    });
    // Ballista reads executors' addresses from the connection when they do not advertise one.
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
