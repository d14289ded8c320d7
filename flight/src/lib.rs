//! Arrow Flight SQL access to the warehouse, for BI tools, notebooks and ADBC/JDBC clients.
//!
//! Strata's outputs are Delta tables that any Delta reader can open, but most SQL tools speak neither Delta
//! nor Strata's functions; Flight SQL is the protocol their ADBC and JDBC drivers do speak, and it streams
//! Arrow batches with no conversion. This crate serves it over the warehouse: catalog `strata`, one schema
//! per warehouse directory (silver, gold, quarantine and dead-letter tables included) and the run ledger as
//! `_strata.runs` ([`catalog`]); read-only SQL with all of Strata's SQL functions ([`readonly`], [`backend`]);
//! user/password authentication with bearer tokens ([`auth`]); unforgeable, user-bound tickets ([`tickets`]);
//! optional TLS without tonic's TLS features ([`tls`]).
//!
//! The warehouse is a local directory or an object-store prefix (`s3://bucket/prefix`), listed afresh for every
//! request. The same server runs embedded (`strata serve --warehouse DIR|URL`, [`Backend::Embedded`]) or inside the
//! scheduler process, executing on its executors ([`Backend::Scheduler`]); this crate never depends on the
//! scheduler, which starts it through [`bind`].
//!
//! ```text
//! let warehouse = Warehouse::parse("s3://lake/wh")?;
//! let options = FlightOptions::new("127.0.0.1:0".parse()?, warehouse).with_users_file("users".into());
//! let (addr, server) = strata_flight::bind(options).await?;
//! tokio::spawn(server);
//! ```

#![warn(missing_docs)]

pub mod auth;
mod backend;
mod catalog;
pub mod client;
pub mod console;
#[cfg(test)]
mod e2e;
mod error;
mod info;
pub mod metered;
mod options;
mod readonly;
mod server;
mod service;
mod tickets;
pub mod tls;

pub use auth::{Users, password_line};
pub use backend::{Backend, query_local};
pub use catalog::{CATALOG, LEDGER_SCHEMA, LEDGER_TABLE};
pub use error::FlightError;
pub use options::FlightOptions;
pub use server::{FlightServer, bind, bind_with_shutdown, build_service, serve_flight};
pub use service::StrataFlightSqlService;
