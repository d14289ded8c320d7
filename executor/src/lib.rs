//! The Strata executor: a Ballista executor that decodes plans with Strata's codecs and functions, so it runs
//! Strata's stages — Delta file scans, the parallel Delta write, every indicator and resampling function.
//!
//! Lifecycle (what a Kubernetes pod needs): `/readyz` answers 200 only while the executor is registered with
//! its scheduler (its last heartbeat succeeded) and not draining; `/livez` answers 200 while the process runs.
//! SIGTERM drains: the executor tells the scheduler it is terminating (no new task is offered to it), lets its
//! running tasks finish for at most the drain timeout, deregisters and returns `Ok` (the process exits 0). A task
//! still running at the timeout is abandoned; the scheduler re-runs it elsewhere, as for a lost executor.

#![warn(missing_docs)]

mod slices;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::ExecutorHealth;
use strata_planner::{engine, probes};

/// Errors starting or running an executor.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// Ballista failed to start or run the executor.
    #[error("executor: {0}")]
    Ballista(#[from] ballista_core::error::BallistaError),
    /// Binding a port or preparing the work directory failed.
    #[error("executor: {0}")]
    Io(#[from] std::io::Error),
    /// The scheduler address is not `host:port`.
    #[error("executor: scheduler address '{0}' is not HOST:PORT")]
    Scheduler(String),
}

impl From<ExecutorError> for datafusion::error::DataFusionError {
    fn from(e: ExecutorError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `host:port`.
    pub scheduler: String,
    /// The address the executor's servers listen on.
    pub bind_host: String,
    /// Host name the scheduler, other executors and clients use to reach this executor.
    pub external_host: String,
    /// Arrow Flight port (shuffle and result fetches); 0 picks a free port.
    pub flight_port: u16,
    /// Executor gRPC port (task launches); 0 picks a free port.
    pub grpc_port: u16,
    /// Shuffle files and spills.
    pub work_dir: PathBuf,
    /// Task slots; 0 means one per core.
    pub vcores: usize,
    /// Bytes of memory all tasks share (spilling beyond it); none for unbounded.
    pub memory_limit: Option<usize>,
    /// How often the executor tells the scheduler it is alive.
    pub heartbeat_seconds: u64,
    /// Serve `/livez` and `/readyz` here.
    pub http_bind: Option<SocketAddr>,
    /// On SIGTERM, how long running tasks may take to finish before the executor exits anyway.
    pub drain_timeout: Duration,
}

/// For a port of 0, a listener on a free port of `host` (held until the port is chosen); none for a fixed port.
fn probe(port: u16, host: &str) -> std::io::Result<Option<std::net::TcpListener>> {
    match port {
        0 => std::net::TcpListener::bind((host, 0)).map(Some),
        _ => Ok(None),
    }
}

fn bound_port(listener: &std::net::TcpListener) -> std::io::Result<u16> {
    Ok(listener.local_addr()?.port())
}

/// Register with the scheduler and run tasks until the process ends (or drains on SIGTERM).
pub async fn serve(options: ExecutorOptions) -> Result<(), ExecutorError> {
    serve_with(options, |_| {}).await
}

/// [`serve`], calling `probes_bound` with the address the HTTP probes listen on once bound (port 0 picks a free one).
pub async fn serve_with(options: ExecutorOptions, probes_bound: impl FnOnce(SocketAddr)) -> Result<(), ExecutorError> {
    let (host, port) = options
        .scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
        .ok_or_else(|| ExecutorError::Scheduler(options.scheduler.clone()))?;
    // Ballista advertises the configured ports verbatim, so 0 must become a real port first. Both probes stay
    // bound until both ports are known, so the two can never be the same port.
    let flight_probe = probe(options.flight_port, &options.bind_host)?;
    let grpc_probe = probe(options.grpc_port, &options.bind_host)?;
    let flight_port = flight_probe.as_ref().map_or(Ok(options.flight_port), bound_port)?;
    let grpc_port = grpc_probe.as_ref().map_or(Ok(options.grpc_port), bound_port)?;
    drop((flight_probe, grpc_probe));
    std::fs::create_dir_all(&options.work_dir)?;
    let vcores = match options.vcores {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    let health = ExecutorHealth::new();
    let draining = Arc::new(AtomicBool::new(false));
    // Whether the executor ever registered: a heartbeat that fails later (the scheduler restarting) does not make
    // its running tasks any less worth draining.
    let registered = Arc::new(AtomicBool::new(false));
    {
        let (health, registered) = (health.clone(), registered.clone());
        tokio::spawn(async move {
            while !health.is_ready() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            registered.store(true, Ordering::Release);
        });
    }
    if let Some(bind) = options.http_bind {
        let (health, draining) = (health.clone(), draining.clone());
        let bound = probes::serve(
            bind,
            Arc::new(move || {
                if draining.load(Ordering::Acquire) {
                    Err("draining: terminating after its running tasks".to_string())
                } else if health.is_ready() {
                    Ok(())
                } else {
                    Err("not registered with the scheduler (no successful heartbeat yet)".to_string())
                }
            }),
        )
        .await?;
        probes_bound(bound);
    }
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: Some(options.external_host.clone()),
        port: flight_port,
        grpc_port,
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        work_dir: Some(options.work_dir.display().to_string()),
        vcores,
        executor_heartbeat_interval_seconds: options.heartbeat_seconds.max(1),
        override_config_producer: Some(engine::config_producer()),
        override_runtime_producer: Some(engine::runtime_producer(
            Some(options.work_dir.display().to_string()),
            options.memory_limit,
        )),
        override_function_registry: Some(Arc::new(engine::function_registry())),
        override_logical_codec: Some(Arc::new(strata_proto::StrataLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(strata_proto::StrataPhysicalCodec::default())),
        override_execution_engine: Some(Arc::new(slices::StrataExecutionEngine::default())),
        health: health.clone(),
        ..Default::default()
    };
    tracing::info!(scheduler = %options.scheduler, flight_port, grpc_port, vcores, "Strata executor starting");
    metrics::gauge!(strata_connectors::metrics::EXECUTOR_SLOTS).set(vcores as f64);
    metrics::gauge!(strata_connectors::metrics::EXECUTOR_MEMORY_LIMIT).set(options.memory_limit.unwrap_or(0) as f64);
    metrics::gauge!(strata_connectors::metrics::EXECUTOR_RUNNING).set(0.0);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let process = start_executor_process(Arc::new(config));
    tokio::pin!(process);
    tokio::select! {
        // Ballista's executor ends by itself on SIGTERM once its tasks are done: either branch may see it first.
        result = &mut process => {
            result?;
            tracing::info!("executor drained and stopped");
        }
        _ = terminate.recv() => {
            draining.store(true, Ordering::Release);
            if !registered.load(Ordering::Acquire) && !health.is_ready() {
                // Never registered: nothing to drain, nobody to tell.
                tracing::info!("SIGTERM before registering: exiting");
                return Ok(());
            }
            // Ballista's executor hears the same signal: it fences itself at the scheduler, deregisters and waits
            // for its tasks; this bounds that wait.
            tracing::info!(timeout_s = options.drain_timeout.as_secs(), "SIGTERM: draining running tasks");
            match tokio::time::timeout(options.drain_timeout, &mut process).await {
                Ok(result) => result?,
                Err(_) => tracing::warn!(
                    timeout_s = options.drain_timeout.as_secs(),
                    "drain timeout: exiting with tasks still running (the scheduler re-runs them elsewhere)"
                ),
            }
            tracing::info!("executor drained and stopped");
        }
    }
    Ok(())
}
