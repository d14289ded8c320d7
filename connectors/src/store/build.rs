//! Building a bucket's store: from the process's environment, the way each service's own tools read it, then the
//! settings a job gave the bucket ([`configure_bucket`]), then options a caller passes (delta-rs passes its own).
//! Nothing here ever writes a setting into a message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, RwLock};

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::{ObjectStore, RetryConfig};
use url::Url;

use super::schemes::Service;
use crate::error::{ConnectorError, Result};
use crate::urls::redacted;

/// A bucket's settings from a job file: [`super::LOCATION_OPTIONS`] keys (lower case) and their values.
pub type BucketOptions = BTreeMap<String, String>;

/// Settings of buckets (keyed `scheme://bucket/`) that apply over the environment's in every store this process
/// opens: set by the planner for the job it plans, and by the scheduler and executors from a job's `strata.stores`.
static BUCKETS: LazyLock<RwLock<HashMap<String, BucketOptions>>> = LazyLock::new(Default::default);

/// The key of `url`'s bucket in bucket settings: `scheme://bucket/`.
pub fn bucket_key(url: &Url) -> String {
    bucket_root(url).to_string()
}

/// Open every store of bucket `bucket` (`scheme://bucket/`) with `options` over the environment's settings, from
/// now on in this process (the latest settings of a bucket win).
pub fn configure_bucket(bucket: &str, options: BucketOptions) {
    let mut buckets = BUCKETS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if buckets.get(bucket) != Some(&options) {
        tracing::debug!(bucket, ?options, "bucket settings");
        buckets.insert(bucket.to_string(), options);
    }
}

/// The settings configured for `bucket` (none: the environment's alone).
pub(super) fn bucket_options(bucket: &str) -> BucketOptions {
    let buckets = BUCKETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    buckets.get(bucket).cloned().unwrap_or_default()
}

/// How often a failed request to an object store is retried (with backoff), and for how long at most: an
/// unreachable endpoint fails a run within seconds rather than the minutes `object_store` waits by default.
const RETRIES: usize = 5;
const RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: RETRIES,
        retry_timeout: RETRY_TIMEOUT,
        ..RetryConfig::default()
    }
}

/// The store at the root of `url`'s bucket (S3 or Azure by its scheme): the environment's settings, then the
/// bucket's configured settings ([`configure_bucket`]), then `options` (keys the service does not know are
/// ignored).
pub fn object_store<'a>(
    url: &Url,
    options: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Arc<dyn ObjectStore>> {
    let root = bucket_root(url);
    let settings: Vec<(String, String)> = bucket_options(root.as_str())
        .into_iter()
        .chain(options.into_iter().map(|(k, v)| (k.clone(), v.clone())))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let failed = |source: object_store::Error| ConnectorError::ObjectStore {
        location: redacted(url),
        source,
    };
    let unsupported = || ConnectorError::InvalidLocation {
        location: redacted(url),
        message: format!("'{}://' is not an object store", url.scheme()),
    };
    let store: Arc<dyn ObjectStore> = match Service::of(url.scheme()).ok_or_else(unsupported)? {
        Service::S3 => {
            let mut builder = AmazonS3Builder::from_env().with_url(root.as_str()).with_retry(retry());
            for (key, value) in &settings {
                if let Ok(key) = key.parse::<AmazonS3ConfigKey>() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build().map_err(failed)?)
        }
        Service::Azure => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_url(root.as_str())
                .with_retry(retry());
            for (key, value) in &settings {
                if let Ok(key) = key.parse::<AzureConfigKey>() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build().map_err(failed)?)
        }
    };
    Ok(store)
}

/// `scheme://bucket/` of an object-store URL.
pub(super) fn bucket_root(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_path("/");
    root.set_query(None);
    root.set_fragment(None);
    root
}
