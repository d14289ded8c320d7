//! Object stores: which URL schemes Strata reads and writes, and how every process opens them.
//!
//! Guarantees:
//! - Every process (embedded run, scheduler, executors, Flight SQL server) opens a location the same way: the
//!   store is built from the environment the way each service's tools read it — for `s3://`, `AWS_ENDPOINT_URL`,
//!   `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ALLOW_HTTP`, web identity
//!   and instance credentials through `object_store`'s chain; for `az://` the `AZURE_*` ones ([`object_store`]). No credential is ever put in a plan: an executor reading `s3://bucket/…` builds its
//!   own store from its own environment (and the bucket settings a job names, which are never credentials).
//! - Delta commits use conditional puts (`If-None-Match: *`): of two writers racing
//!   for one version, one wins and the other retries or fails with a conflict; no commit is lost.
//! - Only the schemes in [`SCHEMES`] are accepted; any other URL is refused by name, never taken for a path.

mod build;
mod listing;
mod registry;
mod schemes;

pub use build::{BucketOptions, bucket_key, configure_bucket, object_store};
pub use listing::{exists, remove_all, subdirectories};
pub use registry::{StoreRegistry, install, runtime_env, runtime_env_with_pool};
pub use schemes::{LOCATION_OPTIONS, SCHEMES, Service, check_url, is_location_option, is_object_store, is_secret_key};
