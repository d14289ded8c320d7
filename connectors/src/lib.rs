//! Strata's connectors: the tables a job reads and writes. Delta Lake today (open, scan through DataFusion,
//! write in one commit per table); Kafka and PostgreSQL sources and sinks join here, each usable on the embedded
//! engine and, through the codecs in `strata-proto`, on a cluster.

pub mod delta;
pub mod error;
pub mod location;
pub mod stage;

pub use error::{ConnectorError, Result};
