//! What one stage produced when it ran: shared by the run (which fills it), the finalizing (which replaces a
//! checked stage's rows by those that pass) and the commit (which takes the rows or files). A leaf: it imports no
//! planner module.

use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use deltalake::kernel::Add;

/// What one stage produced.
pub(crate) struct StageOutcome {
    pub(crate) rows: Option<u64>,
    pub(crate) elapsed: Duration,
    /// Rows to commit (tables and inserts), embedded runs.
    pub(crate) batches: Vec<RecordBatch>,
    /// Files to commit, cluster runs.
    pub(crate) adds: Vec<Add>,
    pub(crate) schema: Option<SchemaRef>,
    /// The executed plan with its operators' metrics, when the run profiles.
    pub(crate) profile: Option<String>,
}
