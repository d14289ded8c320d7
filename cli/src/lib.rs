//! The `strata` command-line tool: run, explain and validate SQL job files on the embedded engine, and generate
//! market data to run them on. The binary is thin; this library holds what tests and benchmarks reuse.

#![warn(missing_docs)]

pub mod generate;
pub mod output;
