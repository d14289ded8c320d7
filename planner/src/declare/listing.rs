//! Any other `STORED AS` (Parquet, CSV, JSON …): a DataFusion listing table over the resolved location, with
//! DataFusion's own options and schema inference.

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{CreateExternalTable, Statement as DFStatement};
use strata_connectors::location;
use strata_sql::JobStatement;
use url::Url;

use crate::error::{Result, df_err};

/// Let DataFusion create the listing table `name` over `url`, and return its provider. `create` must no longer
/// carry the options only Strata reads.
pub(crate) async fn declare(
    ctx: &SessionContext,
    stmt: &JobStatement,
    name: &str,
    create: &CreateExternalTable,
    url: &Url,
) -> Result<Arc<dyn TableProvider>> {
    let mut create = create.clone();
    create.locations = vec![listing_location(url)];
    // DataFusion registers it under the job's (possibly qualified) name; planning registers it again, as every
    // source, under the same name.
    let plan = ctx
        .state()
        .statement_to_plan(DFStatement::CreateExternalTable(create))
        .await
        .map_err(|e| df_err(stmt, e))?;
    ctx.execute_logical_plan(plan).await.map_err(|e| df_err(stmt, e))?;
    ctx.table_provider(TableReference::from(name))
        .await
        .map_err(|e| df_err(stmt, e))
}

/// What DataFusion's listing tables expect: a local path (a directory ends in `/`) or a URL.
fn listing_location(url: &Url) -> String {
    match location::local_path(url) {
        Some(path) if path.is_dir() => format!("{}/", path.display()),
        Some(path) => path.display().to_string(),
        None => url.to_string(),
    }
}
