//! Engine options (`strata.*`) and the one place that builds a session with everything Strata installs: the
//! embedded engine, the scheduler (per query) and every executor all start from [`session_state`].

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;
use strata_connectors::location::Warehouse;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions, SpillCompression};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::{SessionConfig, SessionContext};
use strata_connectors::delta::write_exec::DeltaWritePlanner;
use strata_connectors::store::BucketOptions;

/// Strata's engine options, settable as `strata.<name>` like any DataFusion option.
///
/// Written by hand rather than with `extensions_options!` so that [`ExtensionOptions::entries`] reports full
/// `strata.`-prefixed keys: Ballista ships a session's options to the scheduler and executors as those entries.
#[derive(Debug, Clone, PartialEq)]
pub struct StrataOptions {
    /// Root directory (or URL) of the warehouse: `CREATE TABLE a.b` writes `<warehouse>/a/b`, and relative
    /// `LOCATION`s are resolved against it.
    pub warehouse: String,
    /// Kafka bootstrap servers for locations that name none (`kafka:///topic`).
    pub kafka_brokers: String,
    /// Where runs are recorded: empty for the warehouse's own Delta ledger (`_strata/runs`), or a PostgreSQL schema
    /// (`postgres://host:port/db?schema=ops`).
    pub ledger: String,
    /// Crash tests only: where the commit phase aborts the process ([`Failpoint`]); empty for nowhere. The
    /// binaries set it from `STRATA_FAILPOINT`.
    pub failpoint: String,
    /// The job's bucket settings from its locations' options (`endpoint`, `region`, `allow_http`), as JSON
    /// `{"s3://bucket/": {"endpoint": …}}`; empty for none. The planner sets it; the scheduler and executors
    /// open those buckets with it ([`StrataOptions::configure_buckets`]). Never a credential.
    pub stores: String,
    /// The run's memory budget (`4G`, `512M`, bytes); empty for none. Embedded, every operator of the run reserves
    /// from one pool of this size and sorts, aggregates and windows spill beyond it (`crate::memory`).
    pub memory_limit: String,
    /// How many of a run's stages execute at once; 0 (the default) for one embedded and no limit on a cluster.
    pub stage_concurrency: usize,
}

impl Default for StrataOptions {
    fn default() -> Self {
        Self {
            warehouse: "./warehouse".to_string(),
            kafka_brokers: String::new(),
            ledger: String::new(),
            failpoint: String::new(),
            stores: String::new(),
            memory_limit: String::new(),
            stage_concurrency: 0,
        }
    }
}

impl ExtensionOptions for StrataOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key.strip_prefix("strata.").unwrap_or(key) {
            "warehouse" => {
                self.warehouse = value.to_string();
                Ok(())
            }
            "kafka_brokers" => {
                self.kafka_brokers = value.to_string();
                Ok(())
            }
            "ledger" => {
                self.ledger = value.to_string();
                Ok(())
            }
            "failpoint" => {
                self.failpoint = value.to_string();
                Ok(())
            }
            "stores" => {
                self.stores = value.to_string();
                Ok(())
            }
            "stage_concurrency" => {
                self.stage_concurrency = value.parse().map_err(|_| {
                    DataFusionError::Configuration(format!(
                        "strata.stage_concurrency: '{value}' is not a number of stages"
                    ))
                })?;
                Ok(())
            }
            "memory_limit" => {
                if !value.is_empty() {
                    crate::memory::parse_memory_limit(value)
                        .map_err(|e| DataFusionError::Configuration(format!("strata.memory_limit: {e}")))?;
                }
                self.memory_limit = value.to_string();
                Ok(())
            }
            other => Err(DataFusionError::Configuration(format!(
                "unknown Strata option 'strata.{other}'"
            ))),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let mut entries = vec![
            ConfigEntry {
                key: "strata.warehouse".into(),
                value: Some(self.warehouse.clone()),
                description: "Root directory (or URL) of the warehouse",
            },
            ConfigEntry {
                key: "strata.kafka_brokers".into(),
                value: Some(self.kafka_brokers.clone()),
                description: "Kafka bootstrap servers for locations that name none (kafka:///topic)",
            },
            ConfigEntry {
                key: "strata.ledger".into(),
                value: Some(self.ledger.clone()),
                description: "Where runs are recorded: empty for <warehouse>/_strata/runs, or postgres://…?schema=…",
            },
        ];
        // A crash-test knob, like its hidden command-line flag: listed (and shipped) only when set.
        if !self.failpoint.is_empty() {
            entries.push(ConfigEntry {
                key: "strata.failpoint".into(),
                value: Some(self.failpoint.clone()),
                description: "Crash tests only: where the commit phase aborts the process",
            });
        }
        if self.stage_concurrency != 0 {
            entries.push(ConfigEntry {
                key: "strata.stage_concurrency".into(),
                value: Some(self.stage_concurrency.to_string()),
                description: "How many of a run's stages execute at once (0: one embedded, all on a cluster)",
            });
        }
        if !self.memory_limit.is_empty() {
            entries.push(ConfigEntry {
                key: "strata.memory_limit".into(),
                value: Some(self.memory_limit.clone()),
                description: "The run's memory budget (4G, 512M, bytes): sorts, aggregates and windows spill beyond it",
            });
        }
        if !self.stores.is_empty() {
            entries.push(ConfigEntry {
                key: "strata.stores".into(),
                value: Some(self.stores.clone()),
                description: "Bucket settings from the job's locations (endpoint, region, allow_http), as JSON",
            });
        }
        entries
    }
}

impl ConfigExtension for StrataOptions {
    const PREFIX: &'static str = "strata";
}

impl StrataOptions {
    /// The bucket settings in [`stores`](Self::stores), keyed `scheme://bucket/`.
    pub fn buckets(&self) -> Result<BTreeMap<String, BucketOptions>> {
        if self.stores.is_empty() {
            return Ok(BTreeMap::new());
        }
        serde_json::from_str(&self.stores)
            .map_err(|e| DataFusionError::Configuration(format!("strata.stores is not valid: {e}")))
    }

    /// Open the buckets of [`stores`](Self::stores) with their settings in this process from now on.
    pub fn configure_buckets(&self) -> Result<()> {
        for (bucket, options) in self.buckets()? {
            strata_connectors::store::configure_bucket(&bucket, options);
        }
        Ok(())
    }

    /// The options of `config`, when it has Strata's.
    pub fn of(config: &SessionConfig) -> Option<&StrataOptions> {
        config.options().extensions.get::<StrataOptions>()
    }

    /// Sets [`warehouse`](Self::warehouse), the warehouse root directory or URL.
    pub fn with_warehouse(mut self, warehouse: impl Into<String>) -> Self {
        self.warehouse = warehouse.into();
        self
    }

    /// Sets [`kafka_brokers`](Self::kafka_brokers) (`host:port[,host:port…]`).
    pub fn with_kafka_brokers(mut self, brokers: impl Into<String>) -> Self {
        self.kafka_brokers = brokers.into();
        self
    }

    /// Sets [`ledger`](Self::ledger): empty for the warehouse's Delta ledger, or a `postgres://` URL.
    pub fn with_ledger(mut self, ledger: impl Into<String>) -> Self {
        self.ledger = ledger.into();
        self
    }

    /// Sets [`failpoint`](Self::failpoint) (crash tests only): a [`Failpoint`] name, or empty for none.
    pub fn with_failpoint(mut self, failpoint: impl Into<String>) -> Self {
        self.failpoint = failpoint.into();
        self
    }

    /// Sets [`memory_limit`](Self::memory_limit) (`4G`, `512M`, bytes; empty for none). The command line checks
    /// the value ([`crate::memory::parse_memory_limit`]); one that does not parse bounds nothing.
    pub fn with_memory_limit(mut self, limit: impl Into<String>) -> Self {
        self.memory_limit = limit.into();
        self
    }

    /// The memory budget in bytes, when one is set.
    pub fn memory_limit_bytes(&self) -> Option<usize> {
        if self.memory_limit.is_empty() {
            return None;
        }
        crate::memory::parse_memory_limit(&self.memory_limit).ok()
    }

    /// The warehouse root: a local directory (a path or a `file://` URL) or an `s3://` prefix. Any other URL is
    /// an error naming it, never a relative path.
    pub fn warehouse(&self) -> crate::error::Result<Warehouse> {
        Ok(Warehouse::parse(&self.warehouse)?)
    }
}

/// A point of the commit phase where a crash test aborts the process, as abruptly as `kill -9`: no cleanup runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// `before-commit`: once every stage has run (on a cluster: with every data file written), before anything is
    /// committed.
    BeforeCommit,
    /// `between-commits`: after the first table's commit (dead letters aside).
    BetweenCommits,
    /// `between-commits-pause`: at the same point, log that it is reached and wait (up to ten minutes) for the
    /// test to `kill -9` the process, then abort.
    PauseBetweenCommits,
}

impl Failpoint {
    /// The failpoint `name` names; any other name (empty included) is none.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "before-commit" => Some(Failpoint::BeforeCommit),
            "between-commits" => Some(Failpoint::BetweenCommits),
            "between-commits-pause" => Some(Failpoint::PauseBetweenCommits),
            _ => None,
        }
    }

    /// The failpoint's name as [`parse`](Self::parse) accepts it (`before-commit`, `between-commits`, …).
    pub fn name(self) -> &'static str {
        match self {
            Failpoint::BeforeCommit => "before-commit",
            Failpoint::BetweenCommits => "between-commits",
            Failpoint::PauseBetweenCommits => "between-commits-pause",
        }
    }
}

/// Plans Strata's own logical nodes (the parallel Delta write) besides everything DataFusion plans.
#[derive(Debug, Default)]
pub struct StrataQueryPlanner;

#[async_trait]
impl QueryPlanner for StrataQueryPlanner {
    async fn create_physical_plan(&self, plan: &LogicalPlan, session: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(DeltaWritePlanner)])
            .create_physical_plan(plan, session)
            .await
    }
}

/// The session configuration every Strata process starts from (also Ballista's config producer).
pub fn session_config(options: StrataOptions) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_option_extension(options);
    // Column spans let planning errors point at the offending identifier.
    config.options_mut().sql_parser.collect_spans = true;
    // Spills compressed (LZ4 frames): a run within a memory budget is bounded by the disk its spills take (a sort of
    // 205 M minute bars spilled more than 18 GB uncompressed and filled this project's disk), and LZ4 costs little
    // CPU against the disk writes it saves. `datafusion.execution.spill_compression` still overrides it.
    config.options_mut().execution.spill_compression = SpillCompression::Lz4Frame;
    config
}

/// A session state with Strata's query planner, table factories and functions for `config`. A memory limit in
/// its options bounds what the session's queries hold ([`crate::memory`]).
pub fn session_state(config: SessionConfig) -> SessionState {
    let pool = StrataOptions::of(&config)
        .and_then(StrataOptions::memory_limit_bytes)
        .map(crate::memory::memory_pool);
    let mut builder = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_runtime_env(strata_connectors::store::runtime_env_with_pool(pool))
        .with_query_planner(Arc::new(StrataQueryPlanner));
    for rule in strata_sql::functions::optimizer_rules() {
        builder = builder.with_optimizer_rule(rule);
    }
    let mut state = builder.build();
    strata_connectors::delta::register_table_factory(&mut state);
    let ctx = SessionContext::new_with_state(state);
    strata_sql::functions::register_all(&ctx);
    ctx.state()
}

/// [`session_state`] for queries that run in this process (the embedded engine, Flight SQL over a warehouse): with
/// Strata's physical rules too. A scheduler's plans travel to executors in DataFusion's encoding, so there the
/// executors apply these rules to each task's plan instead (`strata-executor`).
pub fn embedded_state(config: SessionConfig) -> SessionState {
    let mut builder = SessionStateBuilder::new_from_existing(session_state(config));
    for rule in strata_sql::physical::rules() {
        builder = builder.with_physical_optimizer_rule(rule);
    }
    builder.build()
}

/// The embedded engine's session.
pub fn new_context(options: StrataOptions) -> SessionContext {
    SessionContext::new_with_state(embedded_state(session_config(options)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_are_compressed_unless_a_job_says_otherwise() {
        let mut config = session_config(StrataOptions::default());
        assert_eq!(config.options().execution.spill_compression, SpillCompression::Lz4Frame);
        config
            .options_mut()
            .set("datafusion.execution.spill_compression", "zstd")
            .unwrap();
        assert_eq!(config.options().execution.spill_compression, SpillCompression::Zstd);
    }

    #[test]
    fn options_travel_as_prefixed_key_values() {
        let options = StrataOptions::default()
            .with_warehouse("/data/wh")
            .with_kafka_brokers("127.0.0.1:9092");
        let pairs: Vec<(String, String)> = session_config(options)
            .options()
            .entries()
            .into_iter()
            .filter(|e| e.key.starts_with("strata."))
            .map(|e| (e.key, e.value.unwrap_or_default()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("strata.warehouse".to_string(), "/data/wh".to_string()),
                ("strata.kafka_brokers".to_string(), "127.0.0.1:9092".to_string()),
                ("strata.ledger".to_string(), String::new()),
            ]
        );
        // What a receiving process does with them.
        let mut config = session_config(StrataOptions::default());
        for (k, v) in &pairs {
            config.options_mut().set(k, v).unwrap();
        }
        assert_eq!(
            config.options().extensions.get::<StrataOptions>().unwrap().warehouse,
            "/data/wh"
        );
    }
}
