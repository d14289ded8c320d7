//! PostgreSQL tables as sources and sinks.
//!
//! A table is declared with `CREATE EXTERNAL TABLE t [(columns)] STORED AS POSTGRES LOCATION 'postgres://host:port/db'
//! OPTIONS (table 'schema.name', …)`. Its columns come from the catalog ([`catalog`]); declared columns are checked
//! against it. Reads ([`scan`]) stream binary `COPY (SELECT …) TO STDOUT` into Arrow ([`decode`]), optionally split
//! into ranges of a key or time column read over parallel connections, with projections and simple filters pushed
//! into the query (filter values travel as bound parameters, never as SQL text). Writes ([`sink`]) binary-`COPY`
//! the rows ([`encode`]) and upsert them on a declared key, all in one transaction per run.
//!
//! Credentials never appear in a job file: the user comes from the location, the `user` option or the environment,
//! the password from a file (`password_file`, e.g. a mounted Kubernetes secret) or the environment. Nothing here
//! puts either into a log line or an error message.

pub mod catalog;
mod connection;
pub mod decode;
pub mod encode;
pub mod filters;
pub mod offsets;
mod options;
pub mod scan;
pub mod sink;
mod tls;
pub mod types;

pub use crate::error::describe_postgres as describe;
pub use connection::{
    ConnectOptions, CredentialSource, Credentials, DEFAULT_SERVER_VAR, PgAddress, Secret, backoff, connect,
    is_transient, quote_ident,
};
pub use options::{PgOptions, TableName};
pub use tls::TlsMode;
