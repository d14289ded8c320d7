//! Named secrets for SQL functions. A job names a secret (`'chillflow_salt'`); its value comes from the process
//! environment of whichever process evaluates the function: the file named by `STRATA_SECRET_<NAME>_FILE` (one
//! trailing newline dropped; a mounted Kubernetes secret), else `STRATA_SECRET_<NAME>`. The value never enters a
//! plan, a log line, an error message or the run ledger: plans carry the name only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::common::{DataFusionError, Result};

/// The environment variable holding secret `name`'s value (`chillflow_salt` → `STRATA_SECRET_CHILLFLOW_SALT`).
pub fn variable(name: &str) -> String {
    format!("STRATA_SECRET_{}", name.to_ascii_uppercase())
}

/// Whether `name` is a valid secret name: letters, digits and `_`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn cache() -> &'static Mutex<HashMap<String, Arc<[u8]>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<[u8]>>>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// Secret `name`'s value, read once per process. An unset or empty secret is an error naming the variables to set,
/// never a default: a hash keyed by an empty salt would look valid and be reversible.
pub fn value(name: &str) -> Result<Arc<[u8]>> {
    if !valid_name(name) {
        return Err(DataFusionError::Plan(format!(
            "'{name}' is not a secret name (letters, digits and _, starting with a letter)"
        )));
    }
    if let Ok(cached) = cache().lock()
        && let Some(value) = cached.get(name)
    {
        return Ok(value.clone());
    }
    let var = variable(name);
    let file_var = format!("{var}_FILE");
    let bytes: Vec<u8> = match std::env::var_os(&file_var) {
        Some(path) => {
            let mut bytes = std::fs::read(&path).map_err(|e| {
                DataFusionError::Execution(format!(
                    "secret '{name}': cannot read the file {file_var} names ({}): {e}",
                    std::path::Path::new(&path).display()
                ))
            })?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            bytes
        }
        None => std::env::var_os(&var)
            .map(|v| v.into_encoded_bytes())
            .unwrap_or_default(),
    };
    if bytes.is_empty() {
        return Err(DataFusionError::Execution(format!(
            "secret '{name}' is not set: set {file_var} (a file holding it) or {var} in the environment of every \
             process that runs the job (on a cluster, the executors)"
        )));
    }
    let value: Arc<[u8]> = bytes.into();
    if let Ok(mut cached) = cache().lock() {
        cached.insert(name.to_string(), value.clone());
    }
    Ok(value)
}
