//! How every process finds a location's store: delta-rs's factories for the object-store schemes, and the
//! DataFusion registry every Strata session and executor runs with.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::RuntimeEnv;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use deltalake::{DeltaResult, DeltaTableError, Path};
use object_store::ObjectStore;
use url::Url;

use super::build::{BucketOptions, bucket_key, bucket_options, object_store};
use super::schemes::is_object_store;

/// Teach delta-rs to open `s3://`, `s3a://` and `az://` tables with [`object_store`]. Idempotent; every
/// process calls it before opening a table (the session builders do).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["s3://", "s3a://", "az://"] {
            if let Ok(url) = Url::parse(scheme) {
                object_store_factories().insert(url.clone(), Arc::new(Stores));
                logstore_factories().insert(url, Arc::new(LogStores));
            }
        }
    });
}

/// delta-rs's object-store factory for object stores.
struct Stores;

impl ObjectStoreFactory for Stores {
    fn parse_url_opts(&self, url: &Url, config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        let store = object_store(url, &config.raw).map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        let path = Path::from_url_path(url.path()).map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        Ok((store, path))
    }
}

/// delta-rs's log stores for object stores: the default log store, whose commits are conditional puts.
struct LogStores;

impl LogStoreFactory for LogStores {
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
/// stores at scan time), and a bucket's store built on first use from the environment and the bucket's settings,
/// and built again when those settings change.
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
                let store = object_store(url, std::iter::empty()).map_err(DataFusionError::from)?;
                built.insert(bucket, (options, Arc::clone(&store)));
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

/// The runtime every Strata session and executor runs with: DataFusion's defaults, with [`StoreRegistry`] as its
/// object stores.
pub fn runtime_env() -> Arc<RuntimeEnv> {
    runtime_env_with_pool(None)
}

/// [`runtime_env`] whose operators reserve memory from `pool` (a run's memory budget) instead of an unbounded one.
pub fn runtime_env_with_pool(pool: Option<Arc<dyn MemoryPool>>) -> Arc<RuntimeEnv> {
    install();
    let mut env = RuntimeEnv {
        object_store_registry: Arc::new(StoreRegistry::default()),
        ..RuntimeEnv::default()
    };
    if let Some(pool) = pool {
        env.memory_pool = pool;
    }
    Arc::new(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_store_is_built_lazily_and_cached() {
        let registry = StoreRegistry::default();
        let a = registry.get_store(&Url::parse("s3://lake/wh/t/").unwrap()).unwrap();
        let b = registry.get_store(&Url::parse("s3://lake/other/").unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(registry.get_store(&Url::parse("hdfs://nn/x").unwrap()).is_err());
    }
}
