//! The crate's one error type: everything that can fail while starting, serving or calling Flight SQL.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors starting or serving the Flight SQL endpoint.
#[derive(Debug, thiserror::Error)]
pub enum FlightError {
    #[error("Flight SQL: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("Flight SQL users file {}: {message}", .path.display())]
    Users { path: PathBuf, message: String },
    #[error("Flight SQL TLS: {0}")]
    Tls(String),
    #[error("Flight SQL: {0}")]
    Config(String),
    #[error("Flight SQL server: {0}")]
    Serve(#[from] tonic::transport::Error),
    #[error("Flight SQL server: {0}")]
    Io(#[from] std::io::Error),
    #[error("Flight SQL server {0}")]
    Client(String),
}

impl From<FlightError> for datafusion::error::DataFusionError {
    fn from(e: FlightError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}
