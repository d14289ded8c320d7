//! `STORED AS DELTA`: a Delta table the job reads at its current version (and may insert or merge into), read
//! the way the engine can: delta-rs's provider embedded, the version's pinned files on a cluster.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use strata_connectors::delta;
use strata_sql::JobStatement;
use url::Url;

use crate::engine::Engine;
use crate::error::{Result, job_err};

/// Open the Delta table at `url` for the source `name`: a missing or unreadable table stops planning. With an
/// event-time column, also the log statistics' hint of its latest value ([`delta::stats::max_micros`]).
pub(crate) async fn declare(
    ctx: &SessionContext,
    stmt: &JobStatement,
    name: &str,
    url: &Url,
    engine: &Engine,
    event_time: Option<&str>,
) -> Result<(Arc<dyn TableProvider>, Option<i64>)> {
    let table = delta::open(url)
        .await
        .map_err(|e| job_err(stmt, format!("source '{name}': {e}")))?;
    let hint = event_time.and_then(|column| delta::stats::max_micros(&table, column));
    let provider = engine.delta_provider(&table, ctx).await.map_err(|e| job_err(stmt, e))?;
    Ok((provider, hint))
}
