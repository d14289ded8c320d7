//! The crate's one error type: everything that can fail while starting, serving or calling Flight SQL.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Errors starting or serving the Flight SQL endpoint.
#[derive(Debug, thiserror::Error)]
pub enum FlightError {
    /// The listening socket could not be bound (address in use, not permitted, not local).
    #[error("Flight SQL: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The users file cannot be read, has a malformed line or a user twice, or lists no user.
    #[error("Flight SQL users file {}: {message}", .path.display())]
    Users {
        /// The users file.
        path: PathBuf,
        /// What is wrong (naming the line, for a malformed one); never the file's content.
        message: String,
    },
    /// A certificate, key or CA file cannot be read or used, or a TLS configuration cannot be built (serving or
    /// connecting).
    #[error("Flight SQL TLS: {0}")]
    Tls(String),
    /// The options make no server: no users file without `insecure`, or the SQL metadata cannot be built.
    #[error("Flight SQL: {0}")]
    Config(String),
    /// The gRPC server failed while serving.
    #[error("Flight SQL server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// A local I/O failure at start-up: reading the bound address, making the warehouse path absolute.
    #[error("Flight SQL server: {0}")]
    Io(#[from] std::io::Error),
    /// A query as a client (`strata query`) failed: connecting, the login, the statement or its results, on a
    /// server or embedded; the message starts with the server (or `(embedded)`).
    #[error("Flight SQL server {0}")]
    Client(String),
}

impl From<FlightError> for datafusion::error::DataFusionError {
    fn from(e: FlightError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}
