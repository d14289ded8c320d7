//! A run's memory budget (`--memory-limit`, `strata.memory_limit`): one DataFusion memory pool that every
//! operator of every stage of a run reserves from. Sorts, aggregates and sort-based windows spill to disk when
//! their share is used up (a fair share each: `FairSpillPool`); an operator that cannot spill fails with
//! DataFusion's "resources exhausted" error, which the run reports with the stage, the limit and the largest
//! consumers ([`explain_exhausted`]). Without a limit the pool is unbounded, as in DataFusion.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};

/// How many of the largest consumers an out-of-memory error names.
const NAMED_CONSUMERS: usize = 5;

/// Parse a memory size: bytes (`1073741824`) or a number with a binary unit (`512M`, `4G`, `4GiB`, `1.5g`).
pub fn parse_memory_limit(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "'{text}' is not a memory size: unknown unit '{other}' (use K, M, G or T)"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a memory size (examples: 4G, 512M, 1073741824)"))?;
    let bytes = value * scale as f64;
    if !(bytes >= 1.0 && bytes < usize::MAX as f64) {
        return Err(format!("'{text}' is not a usable memory size"));
    }
    Ok(bytes as usize)
}

/// The pool a bounded run (or an executor) allocates from: fair shares for spilling operators, and errors that
/// name the largest consumers.
pub fn memory_pool(bytes: usize) -> Arc<dyn MemoryPool> {
    Arc::new(TrackConsumersPool::new(
        FairSpillPool::new(bytes),
        NonZeroUsize::new(NAMED_CONSUMERS).unwrap_or(NonZeroUsize::MIN),
    ))
}

/// Whether `error` (or what it wraps) is the memory pool refusing an allocation.
pub fn is_exhausted(error: &DataFusionError) -> bool {
    match error {
        DataFusionError::ResourcesExhausted(_) => true,
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => is_exhausted(inner),
        DataFusionError::Shared(inner) => is_exhausted(inner),
        DataFusionError::External(inner) => inner.downcast_ref::<DataFusionError>().is_some_and(is_exhausted),
        _ => false,
    }
}

/// What a user reads when a stage ran out of its memory budget.
pub fn explain_exhausted(limit: &str) -> String {
    format!(
        "the stage needs more memory than the run's limit ({limit}) allows, and an operator holding it cannot \
         spill to disk; raise --memory-limit (strata.memory_limit), or give the stage less to hold at once"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_memory_limit("1024"), Ok(1024));
        assert_eq!(parse_memory_limit("512M"), Ok(512 << 20));
        assert_eq!(parse_memory_limit("4GiB"), Ok(4 << 30));
        assert_eq!(parse_memory_limit("1.5g"), Ok(3 << 29));
        assert!(parse_memory_limit("4 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_memory_limit("G").is_err());
        assert!(parse_memory_limit("0").is_err());
    }

    #[test]
    fn an_exhausted_pool_is_recognised_through_wrappers() {
        let e = DataFusionError::ResourcesExhausted("x".into());
        assert!(is_exhausted(&DataFusionError::Context("sort".into(), Box::new(e))));
        assert!(!is_exhausted(&DataFusionError::Execution("x".into())));
    }
}
