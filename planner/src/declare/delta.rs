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

/// Open the Delta table at `url` for the source `name`: a missing or unreadable table stops planning.
pub(crate) async fn declare(
    ctx: &SessionContext,
    stmt: &JobStatement,
    name: &str,
    url: &Url,
    engine: &Engine,
) -> Result<Arc<dyn TableProvider>> {
    let table = delta::open(url)
        .await
        .map_err(|e| job_err(stmt, format!("source '{name}': {e}")))?;
    engine.delta_provider(&table, ctx).await.map_err(|e| job_err(stmt, e))
}
