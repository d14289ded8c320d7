//! A ledger row as both stores (the warehouse's Delta table and a PostgreSQL schema) keep it. A leaf of the
//! ledger's modules.

/// Where the ledger lives in the warehouse when no other place is configured.
pub const LEDGER_TABLE: &str = "_strata.runs";

/// A row as stored, with where and when it was written.
#[derive(Debug, Clone)]
pub(super) struct StoredEvent {
    pub(super) run_id: String,
    pub(super) job: String,
    pub(super) event: String,
    /// Microseconds since the epoch.
    pub(super) at: i64,
    pub(super) engine: String,
    pub(super) params: String,
    pub(super) host: String,
    pub(super) pid: i64,
    pub(super) error: Option<String>,
    pub(super) failed_stage: Option<String>,
    pub(super) summary: Option<String>,
    pub(super) mode: Option<String>,
}
