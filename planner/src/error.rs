//! The `strata-planner` error type.

use datafusion::error::DataFusionError;
use strata_sql::{SourceLocation, SqlError};

/// Errors from planning and running a job.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    /// The job file could not be read or parsed.
    #[error(transparent)]
    Sql(Box<SqlError>),
    /// The job is ill-formed: unknown table, cycle, duplicate definition, bad parameter, plan error.
    #[error("{location}: {message}")]
    Job { location: SourceLocation, message: String },
    /// A stage failed while running.
    #[error("stage '{stage}' ({location}) failed: {source}")]
    Stage {
        stage: String,
        location: SourceLocation,
        #[source]
        source: Box<DataFusionError>,
    },
    /// Committing an output table failed.
    #[error("committing table '{table}' failed: {source}")]
    Commit {
        table: String,
        #[source]
        source: Box<strata_connectors::ConnectorError>,
    },
    /// A `FAIL` expectation had violations: nothing was committed.
    #[error(
        "{location}: expectation '{rule}' on '{table}' failed for {violations} rows (ON VIOLATION FAIL); nothing was committed"
    )]
    Expectation {
        table: String,
        rule: String,
        violations: u64,
        location: SourceLocation,
    },
    #[error(transparent)]
    Connector(Box<strata_connectors::ConnectorError>),
    #[error(transparent)]
    DataFusion(Box<DataFusionError>),
}

// Boxed so that `Result<T, PlannerError>` stays small on the happy path.
impl From<SqlError> for PlannerError {
    fn from(e: SqlError) -> Self {
        PlannerError::Sql(Box::new(e))
    }
}

impl From<DataFusionError> for PlannerError {
    fn from(e: DataFusionError) -> Self {
        PlannerError::DataFusion(Box::new(e))
    }
}

impl From<strata_connectors::ConnectorError> for PlannerError {
    fn from(e: strata_connectors::ConnectorError) -> Self {
        PlannerError::Connector(Box::new(e))
    }
}

impl PlannerError {
    /// The job-file location at fault, when there is one.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            PlannerError::Sql(e) => e.location(),
            PlannerError::Job { location, .. }
            | PlannerError::Stage { location, .. }
            | PlannerError::Expectation { location, .. } => Some(location),
            _ => None,
        }
    }
}

impl From<PlannerError> for DataFusionError {
    fn from(e: PlannerError) -> Self {
        match e {
            PlannerError::DataFusion(e) => *e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

pub type Result<T, E = PlannerError> = std::result::Result<T, E>;
