//! Strata's SQL layer: the job-file dialect (a SQL script of sources, views, materialized tables and inserts,
//! parsed with locations so every error can name `file:line:col`), the exchange calendars, and — as later issues
//! land — the market-analytics function library that the embedded engine, the scheduler and every executor
//! install from one registry.

#![warn(missing_docs)]

pub mod calendar;
pub mod error;
pub mod functions;
pub mod job;
pub mod physical;
pub mod testing;

pub use error::{Result, SourceLocation, SqlError};
pub use job::{
    Expectation, JobFile, JobStatement, Maintenance, MaintenanceKind, MergeSpec, StatementKind, TableRef,
    ViolationAction,
};
