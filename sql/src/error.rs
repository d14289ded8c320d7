//! The `strata-sql` error type.

use std::fmt;
use std::sync::Arc;

use datafusion::error::DataFusionError;

/// A place in a job file, printed as `file:line:col` (both 1-based).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    /// The job file's path, as given.
    pub file: Arc<str>,
    /// The line, from 1.
    pub line: u64,
    /// The column, from 1.
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
    /// The job file could not be read.
    #[error("cannot read job file {path}: {source}")]
    Io {
        /// The path, as given.
        path: String,
        /// The file system's error.
        #[source]
        source: std::io::Error,
    },
    /// A statement is not SQL the parser accepts.
    #[error("{location}: syntax error: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: SourceLocation,
        /// The parser's explanation.
        message: String,
    },
    /// The file parses but is not a job: no statement, or a statement of a kind a job file does not take.
    #[error("{location}: {message}")]
    Invalid {
        /// The statement at fault.
        location: SourceLocation,
        /// What is wrong with it.
        message: String,
    },
    /// A malformed `--!` directive line: named by file and line, as a directive is a whole line.
    #[error("{}:{}: {message}", location.file, location.line)]
    Directive {
        /// The directive's line.
        location: SourceLocation,
        /// What is wrong with it.
        message: String,
    },
    /// DataFusion failed on a statement.
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

/// A result whose error is a [`SqlError`] unless given.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;
