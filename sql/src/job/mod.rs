//! Job files: a SQL script of stages.
//!
//! A job file is a sequence of `;`-separated statements:
//!
//! * `CREATE EXTERNAL TABLE name STORED AS DELTA|PARQUET|CSV|JSON LOCATION '…' [OPTIONS (…)]` — a source;
//! * `CREATE VIEW name AS <query>` — a logical stage, inlined into its consumers;
//! * `CREATE TABLE name [(CONSTRAINT rule EXPECT (condition) ON VIOLATION …, …)] [PARTITIONED BY (col, …)]
//!   [EVENT TIME (col)] AS <query>` — a materialized stage (a Delta table), with optional expectations, incremental
//!   when it declares its event-time column;
//! * `INSERT INTO name <query>` — an append to a sink table;
//! * `MERGE INTO target USING source ON … WHEN …` — a merge into an existing Delta table;
//! * `FOR n IN (3, 5, 8) DO <statements> END FOR` — a template: its statements once per value, with `{n}` replaced
//!   (the `template` module).
//!
//! Parameters are written `${name}` anywhere an expression may stand and become typed placeholders, bound at
//! planning time; they are never spliced into the text. Every statement and table reference keeps its
//! `file:line:col` so that later errors can point at it.
//!
//! A `--! schedule 'cron' [retries N] [backoff 30s]` line declares when the job runs ([`Schedule`]); the
//! 5-field cron expression in it is [`Cron`]. `--! optimize TABLE [zorder by COL, …]` and `--! vacuum TABLE
//! [retain HOURS]` lines ask for table maintenance after a successful run's commits ([`Maintenance`]). `--! after
//! other.sql` makes the job run after each successful run of another job file ([`After`]).
//!
//! The modules import one way only: `parse` expands templates with `template`, then builds the `ast` (the parsed
//! form), which uses `refs` (the tables and functions a query names) and `names`; `schedule` reads the directive
//! with `cron`, `maintenance` its own directives, `after` the dependencies. This module only re-exports.

mod after;
mod ast;
mod cron;
mod maintenance;
mod names;
mod parse;
mod refs;
mod schedule;
mod template;
mod windows;

pub use after::{After, after_directives};
pub use ast::{Expectation, JobFile, JobStatement, MergeSpec, StatementKind, ViolationAction};
pub use cron::Cron;
pub use maintenance::{Maintenance, MaintenanceKind, maintenance_directives};
pub use names::{TableRef, normalize_ident, normalize_name};
pub use parse::parse_job;
pub use schedule::{DEFAULT_BACKOFF, DEFAULT_RETRIES, Schedule, schedule_directive};
pub use windows::refine_windows;

#[cfg(test)]
mod tests;
