//! Object stores: which URL schemes Strata reads and writes, and how every process opens them.
//!
//! Guarantees:
//! - Every process (embedded run, scheduler, executors, Flight SQL server) opens a location the same way: the
//!   store is built from the environment the way AWS tools read it (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ALLOW_HTTP`, web identity and instance
//!   credentials through `object_store`'s chain). Nothing that opens a store is ever put in a plan: an executor
//!   reading `s3://bucket/…` builds its own store from its own environment.
//! - Delta commits on `s3://` use conditional puts (`If-None-Match: *`): of two writers racing for one version,
//!   one wins and the other retries or fails with a conflict; no commit is lost.
//! - Only the schemes in [`SCHEMES`] are accepted; any other URL is refused by name, never taken for a path.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, Once, RwLock};

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnv;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError, Path};
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use url::Url;

use crate::error::{ConnectorError, Result};
use crate::urls::{local_path, redacted};

/// The URL schemes a location may have: local files and S3-compatible stores (`s3a://` is Hadoop's name for
/// `s3://`).
pub const SCHEMES: &[&str] = &["file", "s3", "s3a"];

/// Whether `scheme` names an object store (not the local file system).
pub fn is_object_store(scheme: &str) -> bool {
    matches!(scheme, "s3" | "s3a")
}

/// Refuse a URL Strata cannot open: an unsupported scheme, credentials inside the URL, an object-store URL
/// without a bucket. The error names the location without any user name or password.
pub fn check_url(url: &Url) -> Result<()> {
    let invalid = |message: String| ConnectorError::InvalidLocation {
        location: redacted(url),
        message,
    };
    if !SCHEMES.contains(&url.scheme()) {
        return Err(invalid(format!(
            "'{}://' is not a supported store: use a local path, file://, s3:// or s3a://",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials do not belong in a location: give them as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY \
             in the environment"
                .into(),
        ));
    }
    if is_object_store(url.scheme()) && url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "an object-store location needs a bucket: s3://BUCKET/path".into(),
        ));
    }
    Ok(())
}

/// Option keys that carry credentials: a job file may not give them (the environment does).
const SECRET_KEYS: &[&str] = &[
    "access_key_id",
    "aws_access_key_id",
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
    "token",
    "aws_token",
    "password",
    "secret",
];

/// Whether an option key names a credential.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let key = key.strip_prefix("storage.").unwrap_or(&key);
    SECRET_KEYS.contains(&key) || key.contains("secret") || key.contains("password")
}

/// The options a job file may give a location on an object store, for its whole bucket: where the bucket is
/// served (`endpoint`, `allow_http` for a plain-HTTP endpoint) and its `region`. Never a credential.
pub const LOCATION_OPTIONS: &[&str] = &["endpoint", "region", "allow_http"];

/// Whether `key` is one of [`LOCATION_OPTIONS`] (any case).
pub fn is_location_option(key: &str) -> bool {
    LOCATION_OPTIONS.contains(&key.to_ascii_lowercase().as_str())
}

/// A bucket's settings from a job file: [`LOCATION_OPTIONS`] keys (lower case) and their values.
pub type BucketOptions = BTreeMap<String, String>;

/// Settings of buckets (keyed `s3://bucket/`) that apply over the environment's in every store this process opens:
/// set by the planner for the job it plans, and by the scheduler and executors from a job's `strata.stores`.
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
fn bucket_options(bucket: &str) -> BucketOptions {
    let buckets = BUCKETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    buckets.get(bucket).cloned().unwrap_or_default()
}

/// How often a failed request to an object store is retried (with backoff), and for how long at most: an
/// unreachable endpoint fails a run within seconds rather than the minutes `object_store` waits by default.
const RETRIES: usize = 5;
const RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The store at the root of `url`'s bucket: the environment's settings, then the bucket's configured settings
/// ([`configure_bucket`]), then `options` (delta-rs passes its own; keys `object_store` does not know are ignored).
pub fn s3_store<'a>(
    url: &Url,
    options: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<Arc<dyn ObjectStore>> {
    let root = bucket_root(url);
    let mut builder = AmazonS3Builder::from_env()
        .with_url(root.as_str())
        .with_retry(RetryConfig {
            max_retries: RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        });
    let apply = |builder: AmazonS3Builder, key: &str, value: &str| match key
        .to_ascii_lowercase()
        .parse::<AmazonS3ConfigKey>()
    {
        Ok(key) => builder.with_config(key, value),
        Err(_) => builder,
    };
    for (key, value) in &bucket_options(root.as_str()) {
        builder = apply(builder, key, value);
    }
    for (key, value) in options {
        builder = apply(builder, key, value);
    }
    let store = builder.build().map_err(|source| ConnectorError::ObjectStore {
        location: redacted(url),
        source,
    })?;
    Ok(Arc::new(store))
}

/// `scheme://bucket/` of an object-store URL.
fn bucket_root(url: &Url) -> Url {
    let mut root = url.clone();
    root.set_path("/");
    root.set_query(None);
    root.set_fragment(None);
    root
}

/// Teach delta-rs to open `s3://` and `s3a://` tables with [`s3_store`]. Idempotent; every process calls it
/// before opening a table (the session builders do).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://"] {
            if let Ok(url) = Url::parse(scheme) {
                object_store_factories().insert(url.clone(), Arc::new(S3Stores));
                logstore_factories().insert(url, Arc::new(S3LogStores));
            }
        }
    });
}

/// delta-rs's object-store factory for S3-compatible stores.
struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(&self, url: &Url, config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        let store = s3_store(url, &config.raw).map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        let path = Path::from_url_path(url.path()).map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        Ok((store, path))
    }
}

/// delta-rs's log stores for S3-compatible stores: the default log store, whose commits are conditional puts.
struct S3LogStores;

impl LogStoreFactory for S3LogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

/// The object-store registry every Strata session uses: stores registered on it (delta-rs registers its tables'
/// stores at scan time), and an `s3://` bucket's store built on first use from the environment and the bucket's
/// settings, and built again when those settings change.
#[derive(Debug, Default)]
pub struct StoreRegistry {
    inner: DefaultObjectStoreRegistry,
    /// Each bucket's store, with the settings it was built with.
    built: Mutex<HashMap<String, BuiltStore>>,
}

/// A bucket's store and the settings it was built with.
type BuiltStore = (BucketOptions, Arc<dyn ObjectStore>);

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(_) if is_object_store(url.scheme()) => {
                let bucket = bucket_key(url);
                let options = bucket_options(&bucket);
                let mut built = self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some((with, store)) = built.get(&bucket)
                    && *with == options
                {
                    return Ok(Arc::clone(store));
                }
                let store = s3_store(url, std::iter::empty()).map_err(DataFusionError::from)?;
                built.insert(bucket, (options, Arc::clone(&store)));
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

/// Remove everything under the directory `url` (a run's staging files); nothing there is no error.
pub async fn remove_all(url: &Url) -> Result<()> {
    if let Some(dir) = local_path(url) {
        return match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ConnectorError::InvalidLocation {
                location: dir.display().to_string(),
                message: format!("cannot remove: {e}"),
            }),
            _ => Ok(()),
        };
    }
    let err = |source: object_store::Error| ConnectorError::ObjectStore {
        location: redacted(url),
        source,
    };
    let (store, prefix) = store_and_prefix(url)?;
    let mut listing = store.list(Some(&prefix));
    while let Some(meta) = listing.next().await {
        let meta = meta.map_err(err)?;
        match store.delete(&meta.location).await {
            Err(object_store::Error::NotFound { .. }) | Ok(()) => {}
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

/// The names of the directories directly under the directory `url`, sorted: sub-directories on a local disk,
/// common prefixes on an object store (one listing, whatever the number of objects below them). Hidden names
/// (`.…`) are left out; a directory that does not exist has none.
pub async fn subdirectories(url: &Url) -> Result<Vec<String>> {
    let mut names = match local_path(url) {
        Some(dir) => {
            let listed = tokio::task::spawn_blocking(move || local_subdirectories(&dir)).await;
            listed.map_err(|e| ConnectorError::InvalidLocation {
                location: redacted(url),
                message: format!("listing failed: {e}"),
            })??
        }
        None => {
            let (store, prefix) = store_and_prefix(url)?;
            let listing =
                store
                    .list_with_delimiter(Some(&prefix))
                    .await
                    .map_err(|source| ConnectorError::ObjectStore {
                        location: redacted(url),
                        source,
                    })?;
            listing
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()
        }
    };
    names.retain(|name| !name.starts_with('.'));
    names.sort();
    Ok(names)
}

/// Whether anything is stored under the directory `url`: a local directory that exists, or at least one object
/// under the prefix (one request, however many objects there are).
pub async fn exists(url: &Url) -> Result<bool> {
    if let Some(dir) = local_path(url) {
        return Ok(dir.is_dir());
    }
    let (store, prefix) = store_and_prefix(url)?;
    match store.list(Some(&prefix)).next().await {
        None => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(source)) => Err(ConnectorError::ObjectStore {
            location: redacted(url),
            source,
        }),
    }
}

/// The bucket's store and the path of `url` in it.
fn store_and_prefix(url: &Url) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let store = s3_store(url, std::iter::empty())?;
    let prefix = Path::from_url_path(url.path()).map_err(|e| ConnectorError::ObjectStore {
        location: redacted(url),
        source: e.into(),
    })?;
    Ok((store, prefix))
}

/// Sub-directory names of a local directory (UTF-8 names only); a missing directory has none.
fn local_subdirectories(dir: &std::path::Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(ConnectorError::InvalidLocation {
                location: dir.display().to_string(),
                message: format!("cannot list: {e}"),
            });
        }
    };
    Ok(entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect())
}

/// The runtime every Strata session and executor runs with: DataFusion's defaults, with [`StoreRegistry`] as its
/// object stores.
pub fn runtime_env() -> Arc<RuntimeEnv> {
    install();
    Arc::new(RuntimeEnv {
        object_store_registry: Arc::new(StoreRegistry::default()),
        ..RuntimeEnv::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_supported_schemes_without_credentials_pass() {
        for ok in ["file:///data/wh/", "s3://lake/wh/", "s3a://lake/wh/"] {
            check_url(&Url::parse(ok).unwrap()).unwrap();
        }
        for (bad, says) in [
            ("hdfs://nn:8020/wh", "'hdfs://' is not a supported store"),
            ("ftp://host/wh", "'ftp://' is not a supported store"),
            ("gs://b/wh", "'gs://' is not a supported store"),
            ("s3://AKIAKEY:topsecret@lake/wh", "credentials do not belong"),
        ] {
            let err = check_url(&Url::parse(bad).unwrap()).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("topsecret") && !err.contains("AKIAKEY"), "{err}");
        }
    }

    #[test]
    fn credential_keys_are_recognised() {
        for key in [
            "aws_secret_access_key",
            "SECRET_ACCESS_KEY",
            "storage.aws_session_token",
            "password",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["endpoint", "region", "aws_allow_http", "format"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn a_bucket_store_is_built_lazily_and_cached() {
        let registry = StoreRegistry::default();
        let a = registry.get_store(&Url::parse("s3://lake/wh/t/").unwrap()).unwrap();
        let b = registry.get_store(&Url::parse("s3://lake/other/").unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(registry.get_store(&Url::parse("hdfs://nn/x").unwrap()).is_err());
    }
}
