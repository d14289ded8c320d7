//! Strata's connectors: the tables a job reads and writes. Delta Lake (open, scan through DataFusion, write in one
//! commit per table) and Kafka (bounded, exactly-once reads into Delta; idempotent production) and
//! PostgreSQL (parallel binary-COPY reads, transactional upserts). Each is usable on the embedded engine and, through the codecs in `strata-proto`, on a cluster.

#![warn(missing_docs)]

pub mod conform;
pub mod delta;
pub mod error;
pub mod kafka;
pub mod location;
pub mod metered;
pub mod metrics;
pub mod postgres;
pub mod stage;
pub mod store;
mod urls;

pub use error::{ConnectorError, Result};
