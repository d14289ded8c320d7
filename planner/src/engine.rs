//! Where a job's stages execute: the embedded engine, an in-process Ballista cluster (scheduler and executor in
//! this process, for tests and single-machine use), or a remote Ballista scheduler. Plans are the same in every
//! mode; on a cluster, sources are pinned Delta files and stage outputs are written by the executors.

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::{ConfigProducer, RuntimeProducer};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use strata_proto::{StrataLogicalCodec, StrataPhysicalCodec};

use crate::config::{StrataOptions, new_context, session_config, session_state};

/// Where a job runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process (the default).
    Embedded,
    /// A Ballista scheduler and executor started inside this process.
    Standalone,
    /// A running Ballista scheduler at `host:port` (with Strata's executors).
    Cluster {
        /// The scheduler's gRPC address, `host:port` (no scheme).
        scheduler: String,
    },
}

impl Engine {
    /// Whether stages run on Ballista (standalone or cluster) rather than embedded.
    pub fn is_distributed(&self) -> bool {
        !matches!(self, Engine::Embedded)
    }

    /// The engine's name: `embedded`, `standalone` or `cluster`.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Embedded => "embedded",
            Engine::Standalone => "standalone",
            Engine::Cluster { .. } => "cluster",
        }
    }

    /// How this engine reads a Delta table: on a cluster, the version's pinned files (a plain Parquet scan any
    /// executor can run); embedded, delta-rs's provider.
    pub async fn delta_provider(
        &self,
        table: &deltalake::DeltaTable,
        ctx: &SessionContext,
    ) -> strata_connectors::Result<Arc<dyn datafusion::catalog::TableProvider>> {
        if self.is_distributed() {
            Ok(Arc::new(strata_connectors::delta::files::DeltaFiles::from_table(
                table,
            )?))
        } else {
            strata_connectors::delta::provider(table, &ctx.state()).await
        }
    }

    /// A session that runs its queries here.
    pub async fn context(&self, options: StrataOptions) -> Result<SessionContext> {
        match self {
            Engine::Embedded => Ok(new_context(options)),
            Engine::Standalone => {
                let scheduler = start_standalone().await?;
                remote_context(&scheduler, options).await
            }
            Engine::Cluster { scheduler } => {
                probe(scheduler).await?;
                remote_context(scheduler, options).await
            }
        }
    }
}

/// The configuration of every cluster process: Strata's session options plus Ballista's.
///
/// Jobs run on Ballista's classic execution graph, not its adaptive planner (the default since 54): the adaptive
/// planner cannot re-run a finished stage after a lost executor, and the job then stays running with nothing to run
/// (upstream datafusion-ballista#1986). The classic graph re-runs what was lost; the writes it can then deliver
/// twice are committed once (`strata_connectors::delta::write_result`).
pub fn cluster_config(options: StrataOptions) -> SessionConfig {
    session_config(options)
        .upgrade_for_ballista()
        .set_bool(ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED, false)
        // A lost executor is noticed by the tasks that read its shuffle output: retry briefly, then let the
        // scheduler re-run the lost map tasks elsewhere.
        .set_usize("ballista.client.io_retries_times", 2)
        .set_usize("ballista.client.io_retry_wait_time_ms", 500)
}

/// The config producer the scheduler and executors install.
pub fn config_producer() -> ConfigProducer {
    Arc::new(|| cluster_config(StrataOptions::default()))
}

/// The codec pair every process uses.
pub fn codec() -> BallistaCodec {
    BallistaCodec::new(
        Arc::new(StrataLogicalCodec::default()),
        Arc::new(StrataPhysicalCodec::default()),
    )
}

/// The state a scheduler builds for each query (Strata's functions, planner and table factories).
pub fn scheduler_session(config: SessionConfig) -> Result<SessionState> {
    // The scheduler lists a job's files too: its buckets' settings apply here as on the executors.
    if let Some(options) = StrataOptions::of(&config) {
        options.configure_buckets()?;
    }
    Ok(session_state(config))
}

/// The runtime executors run tasks with: spill files under `temp_dir` (none: the system's), Strata's
/// object-store registry, shared by every task (an `s3://` bucket's store is built once, from the environment and
/// the settings a job gives its bucket), and, with `memory_limit` bytes, one memory pool that all the executor's
/// tasks share (so the limit bounds the process, whatever its task slots run).
pub fn runtime_producer(temp_dir: Option<String>, memory_limit: Option<usize>) -> RuntimeProducer {
    strata_connectors::store::install();
    let registry = Arc::new(strata_connectors::store::StoreRegistry::default());
    // One pool for all of the process's tasks, bounded or not, so its reservations are the executor's.
    let pool: Arc<dyn datafusion::execution::memory_pool::MemoryPool> = match memory_limit {
        Some(bytes) => crate::memory::memory_pool(bytes),
        None => Arc::new(datafusion::execution::memory_pool::UnboundedMemoryPool::default()),
    };
    Arc::new(move |config: &SessionConfig| {
        // A task of a job whose locations set their bucket's endpoint or region opens those buckets so.
        if let Some(options) = StrataOptions::of(config) {
            options.configure_buckets()?;
        }
        let mut builder = RuntimeEnvBuilder::new().with_object_store_registry(registry.clone());
        if let Some(dir) = &temp_dir {
            builder = builder.with_temp_file_path(dir.clone());
        }
        builder = builder.with_memory_pool(pool.clone());
        Ok(Arc::new(builder.build()?))
    })
}

/// The function registry executors decode plans with.
pub fn function_registry() -> BallistaFunctionRegistry {
    BallistaFunctionRegistry::from(&session_state(cluster_config(StrataOptions::default())))
}

/// Fail at once, with the address, when nothing answers at `scheduler`.
pub async fn probe(scheduler: &str) -> Result<()> {
    let endpoint = format!("http://{scheduler}");
    let connect = SchedulerGrpcClient::connect(endpoint.clone());
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(DataFusionError::Execution(format!(
            "cannot reach the Strata scheduler at {scheduler}: {e}"
        ))),
        Err(_) => Err(DataFusionError::Execution(format!(
            "cannot reach the Strata scheduler at {scheduler}: no answer within 5 s"
        ))),
    }
}

/// A client session on the scheduler at `host:port`.
pub async fn remote_context(scheduler: &str, options: StrataOptions) -> Result<SessionContext> {
    remote_context_with_config(scheduler, cluster_config(options)).await
}

/// [`remote_context`] from a [`cluster_config`] the caller adjusted (default catalog, batch size, …).
pub async fn remote_context_with_config(scheduler: &str, config: SessionConfig) -> Result<SessionContext> {
    let config = config
        .with_ballista_logical_extension_codec(Arc::new(StrataLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(StrataPhysicalCodec::default()));
    let ctx = SessionContext::remote_with_state(&format!("df://{scheduler}"), session_state(config)).await?;
    // Ballista's upgrade replaces the function lists; Strata's functions go back on for planning.
    strata_sql::functions::register_all(&ctx);
    Ok(ctx)
}

/// Start a scheduler and one executor inside this process; returns the scheduler's `host:port`.
pub async fn start_standalone() -> Result<String> {
    let codec = codec();
    let producer = config_producer();
    let addr = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
        Arc::new(scheduler_session),
        producer.clone(),
        codec.clone(),
    )
    .await
    .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let endpoint = format!("http://localhost:{}", addr.port());
    let mut client = None;
    for _ in 0..50 {
        match SchedulerGrpcClient::connect(endpoint.clone()).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let client = client.ok_or_else(|| DataFusionError::Execution("in-process scheduler did not start".into()))?;
    let runtime = runtime_producer(None, None);
    let vcores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    ballista_executor::new_standalone_executor_from_builder(
        client,
        vcores,
        producer,
        runtime,
        codec,
        function_registry(),
    )
    .await
    .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(format!("localhost:{}", addr.port()))
}
