//! The `strata-sql` error type.

use std::fmt;
use std::sync::Arc;

use datafusion::error::DataFusionError;

/// A place in a job file, printed as `file:line:col` (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    pub file: Arc<str>,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Errors from reading and parsing job files.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("cannot read job file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: syntax error: {message}")]
    Syntax { location: SourceLocation, message: String },
    #[error("{location}: {message}")]
    Invalid { location: SourceLocation, message: String },
    /// A malformed `--!` directive line: named by file and line, as a directive is a whole line.
    #[error("{}:{}: {message}", location.file, location.line)]
    Directive { location: SourceLocation, message: String },
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl SqlError {
    /// The job-file location at fault, when there is one.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            SqlError::Syntax { location, .. }
            | SqlError::Invalid { location, .. }
            | SqlError::Directive { location, .. } => Some(location),
            _ => None,
        }
    }
}

impl From<SqlError> for DataFusionError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;
