//! Any other `STORED AS` (Parquet, CSV, JSON …): a DataFusion listing table over the resolved location, with
//! DataFusion's own options and schema inference.
//!
//! A Hive-style partition column (`PARTITIONED BY (month)` over `month=2024-01-01/` directories) that is the
//! source's event time is read as a DATE, so each directory is a batch that incremental runs, backfills and
//! partition pruning select by its date (DataFusion reads partition values as text otherwise).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::listing::{ListingTable, ListingTableConfig};
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
    event_time: Option<&str>,
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
    let provider = ctx
        .table_provider(TableReference::from(name))
        .await
        .map_err(|e| df_err(stmt, e))?;
    match event_time {
        Some(column) => dated_partition(provider, column).map_err(|e| df_err(stmt, e)),
        None => Ok(provider),
    }
}

/// `provider` with its partition column `column` typed DATE (values `YYYY-MM-DD`); unchanged when `column` is not a
/// text partition column.
fn dated_partition(
    provider: Arc<dyn TableProvider>,
    column: &str,
) -> datafusion::error::Result<Arc<dyn TableProvider>> {
    let Some(listing) = provider.downcast_ref::<ListingTable>() else {
        return Ok(provider);
    };
    let options = listing.options();
    let textual = |t: &DataType| match t {
        DataType::Dictionary(_, value) => matches!(**value, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
        other => matches!(other, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View),
    };
    if !options
        .table_partition_cols
        .iter()
        .any(|(name, t)| name == column && textual(t))
    {
        return Ok(provider);
    }
    let partitions: Vec<(String, DataType)> = options
        .table_partition_cols
        .iter()
        .map(|(name, t)| match name == column {
            true => (name.clone(), DataType::Date32),
            false => (name.clone(), t.clone()),
        })
        .collect();
    let table_schema = provider.schema();
    let file_schema = Arc::new(Schema::new(
        table_schema
            .fields()
            .iter()
            .filter(|f| !partitions.iter().any(|(name, _)| name == f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let config = ListingTableConfig::new_with_multi_paths(listing.table_paths().clone())
        .with_listing_options(options.clone().with_table_partition_cols(partitions))
        .with_schema(file_schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// What DataFusion's listing tables expect: a local path (a directory ends in `/`) or a URL.
fn listing_location(url: &Url) -> String {
    match location::local_path(url) {
        Some(path) if path.is_dir() => format!("{}/", path.display()),
        Some(path) => path.display().to_string(),
        None => url.to_string(),
    }
}
