//! The `strata-planner` error type.

use datafusion::error::DataFusionError;
use strata_sql::{JobStatement, SourceLocation, SqlError};

/// Errors from planning and running a job.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    /// The job file could not be read or parsed.
    #[error(transparent)]
    Sql(Box<SqlError>),
    /// The job is ill-formed: unknown table, cycle, duplicate definition, bad parameter, plan error.
    #[error("{location}: {message}")]
    Job {
        /// Where in the job file the problem is.
        location: SourceLocation,
        /// What is wrong, without the location (the message prints it first).
        message: String,
    },
    /// A stage failed while running.
    #[error("stage '{stage}' ({location}) failed: {source}")]
    Stage {
        /// The stage's display name ([`Stage::name`](crate::dag::Stage::name)).
        stage: String,
        /// Where the stage's statement starts.
        location: SourceLocation,
        /// The DataFusion (or Ballista) error the stage failed with.
        #[source]
        source: Box<DataFusionError>,
    },
    /// Committing an output table failed.
    #[error("committing table '{table}' failed: {source}")]
    Commit {
        /// The table being committed: an output, dead-letter or quarantine table.
        table: String,
        /// The connector's error.
        #[source]
        source: Box<strata_connectors::ConnectorError>,
    },
    /// A `FAIL` expectation had violations: nothing was committed.
    #[error(
        "{location}: expectation '{rule}' on '{table}' failed for {violations} rows (ON VIOLATION FAIL); nothing was committed"
    )]
    Expectation {
        /// The table (or view) the expectation is declared on.
        table: String,
        /// The expectation's (normalized) name.
        rule: String,
        /// How many rows violated it.
        violations: u64,
        /// Where the expectation is declared.
        location: SourceLocation,
    },
    /// A connector error (Delta, Kafka, the run ledger, …) not attributed to a stage or a commit.
    #[error(transparent)]
    Connector(Box<strata_connectors::ConnectorError>),
    /// A DataFusion error not attributed to a stage or a job-file location.
    #[error(transparent)]
    DataFusion(Box<DataFusionError>),
    /// The run was stopped from outside before its commit ([`crate::stop::StopHandle`]): nothing was committed.
    #[error("{0}; the run was stopped and nothing was committed")]
    Stopped(String),
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

/// `Result` with [`PlannerError`] as the default error.
pub type Result<T, E = PlannerError> = std::result::Result<T, E>;

/// An error at `stmt`'s location.
pub(crate) fn job_err(stmt: &JobStatement, e: impl std::fmt::Display) -> PlannerError {
    PlannerError::Job {
        location: stmt.location.clone(),
        message: e.to_string(),
    }
}

/// Point a DataFusion planning error at the best location we know: its diagnostic span, the unknown function's
/// call, or the statement.
pub(crate) fn df_err(stmt: &JobStatement, e: DataFusionError) -> PlannerError {
    let mut location = stmt.location.clone();
    let span = e.diagnostic().and_then(|d| d.span).filter(|s| s.start.line > 0);
    let root = e.find_root().to_string();
    // Strata's functions start their planning errors with their name ("sma: argument 2 …").
    let named_function = root
        .strip_prefix("Error during planning: ")
        .unwrap_or(&root)
        .split_once(": ")
        .map(|(name, _)| name.to_string());
    let unknown_function = e
        .to_string()
        .split("Invalid function '")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .map(str::to_string)
        .or(named_function);
    if let Some(span) = span {
        location.line = span.start.line;
        location.column = span.start.column;
    } else if let Some(call) =
        unknown_function.and_then(|name| stmt.function_calls().into_iter().find(|f| f.name == name))
    {
        location = call.location;
    }
    let message = e.find_root().to_string();
    let message = message
        .strip_prefix("Error during planning: ")
        .or_else(|| message.strip_prefix("Schema error: "))
        .unwrap_or(&message)
        .replace('\n', " ");
    PlannerError::Job { location, message }
}
