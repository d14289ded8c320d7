//! The `strata` command-line tool as a library: everything the binary does except declaring the command line,
//! so that tests reach it without spawning processes. `main.rs` parses the arguments and dispatches to the
//! command modules ([`commands`], [`cluster`], [`flight`]), which are glue over:
//!
//! * [`supervise`]: starting, waiting for and stopping the processes of a local cluster;
//! * [`schedule`]: the cron runner of `strata schedule`;
//! * [`remote`]: the client of a scheduler's job service;
//! * [`print`]: what is printed about runs, from a ledger or a scheduler;
//! * [`generate`] and [`output`]: synthetic market data, and progress on a terminal or as JSON lines.
//!
//! The arguments several commands share are declared once in [`args`]; every failure is a [`CliError`].

#![warn(missing_docs)]

pub mod args;
pub mod cluster;
pub mod commands;
pub mod error;
pub mod flight;
pub mod generate;
pub mod otlp;
pub mod output;
pub mod print;
pub mod remote;
pub mod schedule;
pub mod supervise;

pub use error::CliError;
