//! Pseudonymisation: keyed hashes whose key is a named secret of the process, never a value in the job file
//! (`hmac_sha256`). See [`secret`] for where secrets come from.

mod hmac_sha256;
pub mod secret;

use std::sync::Arc;

use datafusion::logical_expr::ScalarUDF;

/// The keyed hash functions: `hmac_sha256`.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![Arc::new(ScalarUDF::from(hmac_sha256::HmacSha256::new()))]
}
