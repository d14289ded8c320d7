//! The `strata-connectors` error type.

use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;

/// Errors from reading or writing external tables.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("no table at '{location}'")]
    Missing { location: String },
    #[error("'{location}' is not a Delta table (no _delta_log)")]
    NotDelta { location: String },
    #[error("invalid location '{location}': {message}")]
    InvalidLocation { location: String, message: String },
    #[error("Delta table '{location}': {source}")]
    Delta {
        location: String,
        #[source]
        source: DeltaTableError,
    },
    #[error("Delta table '{location}': {message}")]
    Unsupported { location: String, message: String },
    #[error("Kafka {context}: {message}")]
    Kafka { context: String, message: String },
    #[error("PostgreSQL {context}: {message}")]
    Postgres { context: String, message: String },
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl From<ConnectorError> for DataFusionError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::DataFusion(e) => e,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;
