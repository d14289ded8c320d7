//! Engine options (`strata.*`) and the one function that builds a session with everything Strata installs.

use std::path::PathBuf;

use datafusion::common::config::ConfigExtension;
use datafusion::common::extensions_options;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

extensions_options! {
    /// Strata's engine options, settable as `strata.<name>` like any DataFusion option.
    pub struct StrataOptions {
        /// Root directory (or URL) of the warehouse: `CREATE TABLE a.b` writes `<warehouse>/a/b`, and relative
        /// `LOCATION`s are resolved against it.
        pub warehouse: String, default = "./warehouse".to_string()
    }
}

impl ConfigExtension for StrataOptions {
    const PREFIX: &'static str = "strata";
}

impl StrataOptions {
    pub fn with_warehouse(mut self, warehouse: impl Into<String>) -> Self {
        self.warehouse = warehouse.into();
        self
    }

    pub fn warehouse_path(&self) -> PathBuf {
        PathBuf::from(&self.warehouse)
    }
}

/// A session with Strata's options, table factories and (as they land) functions installed. The embedded engine,
/// the scheduler and every executor build their sessions here, so they all agree.
pub fn new_context(options: StrataOptions) -> SessionContext {
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_option_extension(options);
    // Column spans let planning errors point at the offending identifier.
    config.options_mut().sql_parser.collect_spans = true;
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    strata_connectors::delta::register_table_factory(&mut state);
    let ctx = SessionContext::new_with_state(state);
    strata_sql::functions::register_all(&ctx);
    ctx
}

/// The Strata options of a session (defaults if none were installed).
pub fn strata_options(ctx: &SessionContext) -> StrataOptions {
    ctx.state()
        .config()
        .options()
        .extensions
        .get::<StrataOptions>()
        .cloned()
        .unwrap_or_default()
}
