//! A location's own store settings: `OPTIONS ('endpoint' 'http://…', 'region' '…', 'allow_http' 'true')` on a
//! source in an object store, for a bucket served elsewhere than the environment's `AWS_ENDPOINT_URL` says.
//!
//! Settings belong to a bucket, not to one table: every location in the bucket, in every process of the run, is
//! opened with them. They travel to the scheduler and executors as the session option `strata.stores` (never a
//! credential: [`strata_connectors::store::is_secret_key`] refused those before). Two declarations that give one
//! bucket different settings are an error at the second.

use datafusion::prelude::SessionContext;
use strata_connectors::store::{self, BucketOptions, LOCATION_OPTIONS};
use strata_sql::JobStatement;
use url::Url;

use crate::config::StrataOptions;
use crate::error::{Result, job_err};

/// Record `options` for the bucket of `url` in the job's session (for the cluster) and in this process.
pub(crate) fn declare(ctx: &SessionContext, stmt: &JobStatement, url: &Url, options: BucketOptions) -> Result<()> {
    if store::Service::of(url.scheme()) != Some(store::Service::S3) {
        return Err(job_err(
            stmt,
            format!(
                "options {} set an S3 bucket's endpoint; '{url}' is not in one",
                LOCATION_OPTIONS.join(", ")
            ),
        ));
    }
    let bucket = store::bucket_key(url);
    let state = ctx.state_ref();
    let mut state = state.write();
    let strata = state
        .config_mut()
        .options_mut()
        .extensions
        .get_mut::<StrataOptions>()
        .ok_or_else(|| job_err(stmt, "the session has no Strata options"))?;
    let mut buckets = strata.buckets().map_err(|e| job_err(stmt, e))?;
    if let Some(earlier) = buckets.get(&bucket)
        && *earlier != options
    {
        return Err(job_err(
            stmt,
            format!("bucket {bucket} is given other settings ({earlier:?}) by an earlier declaration of this job"),
        ));
    }
    buckets.insert(bucket.clone(), options.clone());
    strata.stores = serde_json::to_string(&buckets).map_err(|e| job_err(stmt, e))?;
    store::configure_bucket(&bucket, options);
    Ok(())
}
