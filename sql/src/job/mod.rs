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
//! * `MERGE INTO target USING source ON … WHEN …` — a merge into an existing Delta table.
//!
//! Parameters are written `${name}` anywhere an expression may stand and become typed placeholders, bound at
//! planning time; they are never spliced into the text. Every statement and table reference keeps its
//! `file:line:col` so that later errors can point at it.
//!
//! A `--! schedule 'cron' [retries N] [backoff 30s]` line declares when the job runs ([`Schedule`]); the
//! 5-field cron expression in it is [`Cron`].

mod cron;
mod parse;
mod refs;
mod schedule;

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::sql::parser::CreateExternalTable;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Query};

use crate::error::{Result, SourceLocation, SqlError};

pub use cron::Cron;
pub use parse::parse_job;
pub use schedule::{DEFAULT_BACKOFF, DEFAULT_RETRIES, Schedule, schedule_directive};

/// A parsed job file.
#[derive(Debug, Clone)]
pub struct JobFile {
    /// The path as given (used in every error message).
    pub path: Arc<str>,
    pub statements: Vec<JobStatement>,
    /// When the job runs, if its `--! schedule` line says.
    pub schedule: Option<Schedule>,
}

impl JobFile {
    /// Read and parse a job file from disk.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| SqlError::Io {
            path: path.to_string(),
            source,
        })?;
        parse_job(path, &text)
    }

    /// Names of every `${param}` the job uses.
    pub fn parameters(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .flat_map(|s| s.parameters.iter().map(|(n, _)| n.clone()))
            .collect()
    }
}

/// One statement of a job file.
#[derive(Debug, Clone)]
pub struct JobStatement {
    /// Where the statement starts.
    pub location: SourceLocation,
    /// The statement's text as written (for `explain`).
    pub text: String,
    pub kind: StatementKind,
    /// `${param}` uses in this statement, with their locations.
    pub parameters: Vec<(String, SourceLocation)>,
}

/// What a statement declares.
#[derive(Debug, Clone)]
pub enum StatementKind {
    /// `CREATE EXTERNAL TABLE`: a source table.
    Source(Box<CreateExternalTable>),
    /// `CREATE VIEW`: a logical stage (materialized for the run when it declares expectations).
    View {
        name: ObjectName,
        query: Box<Query>,
        /// `CONSTRAINT name EXPECT (condition) [ON VIOLATION …]` rules on its rows.
        expectations: Vec<Expectation>,
    },
    /// `CREATE TABLE … AS`: a materialized stage.
    Table {
        name: ObjectName,
        partitioned_by: Vec<Ident>,
        /// `EVENT TIME (column)`: the column holding each row's event time (or the start of its bucket), which
        /// makes the table incremental: runs rewrite only the time range new or backfilled data touches.
        event_time: Option<Ident>,
        query: Box<Query>,
        /// `CONSTRAINT name EXPECT (condition) [ON VIOLATION …]` rules on its rows.
        expectations: Vec<Expectation>,
    },
    /// `INSERT INTO … <query>`: an append; or `MERGE INTO target USING source ON …` (`merge` is set, `query` is the
    /// source).
    Insert {
        target: ObjectName,
        query: Box<Query>,
        merge: Option<Box<MergeSpec>>,
        /// `INSERT INTO t (CONSTRAINT …) <query>`: rules on the inserted rows.
        expectations: Vec<Expectation>,
    },
}

/// What happens to rows that fail an expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationAction {
    /// Keep the rows; count them (the default).
    Warn,
    /// Leave the rows out; count them.
    Drop,
    /// Move the rows to the table's quarantine table, with the rule names and the run id; count them.
    Quarantine,
    /// Stop the run: nothing is committed.
    Fail,
}

impl ViolationAction {
    pub fn name(self) -> &'static str {
        match self {
            ViolationAction::Warn => "warn",
            ViolationAction::Drop => "drop",
            ViolationAction::Quarantine => "quarantine",
            ViolationAction::Fail => "fail",
        }
    }
}

/// A named data-quality rule on a stage's rows. A row violates it when the condition is false or NULL.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub name: String,
    pub condition: datafusion::sql::sqlparser::ast::Expr,
    pub action: ViolationAction,
    pub location: SourceLocation,
}

/// A `MERGE INTO` statement's matching and actions (its source query is the statement's query).
#[derive(Debug, Clone)]
pub struct MergeSpec {
    pub target_alias: String,
    pub source_alias: String,
    pub on: datafusion::sql::sqlparser::ast::Expr,
    pub clauses: Vec<datafusion::sql::sqlparser::ast::MergeClause>,
}

/// A table named by a statement, with where it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRef {
    /// Normalized name: unquoted parts lower-cased, joined with `.`.
    pub name: String,
    pub location: SourceLocation,
}

impl JobStatement {
    /// The table this statement defines or writes, normalized.
    pub fn target(&self) -> TableRef {
        let (name, fallback) = match &self.kind {
            StatementKind::Source(s) => (&s.name, &self.location),
            StatementKind::View { name, .. } | StatementKind::Table { name, .. } => (name, &self.location),
            StatementKind::Insert { target, .. } => (target, &self.location),
        };
        TableRef {
            name: normalize_name(name),
            location: name_location(name, fallback),
        }
    }

    /// The query of a view, table or insert.
    pub fn query(&self) -> Option<&Query> {
        match &self.kind {
            StatementKind::Source(_) => None,
            StatementKind::View { query, .. }
            | StatementKind::Table { query, .. }
            | StatementKind::Insert { query, .. } => Some(query),
        }
    }

    /// The expectations a view, table or insert declares on its rows.
    pub fn expectations(&self) -> &[Expectation] {
        match &self.kind {
            StatementKind::Source(_) => &[],
            StatementKind::View { expectations, .. }
            | StatementKind::Table { expectations, .. }
            | StatementKind::Insert { expectations, .. } => expectations,
        }
    }

    /// Tables this statement reads, in order of appearance (CTE names excluded).
    pub fn references(&self) -> Vec<TableRef> {
        self.query()
            .map(|q| refs::table_references(q, &self.location))
            .unwrap_or_default()
    }

    /// Functions this statement calls, with their locations.
    pub fn function_calls(&self) -> Vec<TableRef> {
        self.query()
            .map(|q| refs::function_calls(q, &self.location))
            .unwrap_or_default()
    }

    /// A short word for the statement kind.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            StatementKind::Source(_) => "source",
            StatementKind::View { .. } => "view",
            StatementKind::Table { .. } => "table",
            StatementKind::Insert { merge: Some(_), .. } => "merge",
            StatementKind::Insert { .. } => "insert",
        }
    }
}

/// Normalize an object name the way DataFusion resolves it.
pub fn normalize_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => normalize_ident(ident),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

pub fn normalize_ident(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// Where an object name starts, or `fallback` when the parser recorded no span.
pub(crate) fn name_location(name: &ObjectName, fallback: &SourceLocation) -> SourceLocation {
    match name.0.first().and_then(|p| p.as_ident()) {
        Some(ident) if ident.span.start.line > 0 => SourceLocation {
            file: fallback.file.clone(),
            line: ident.span.start.line,
            column: ident.span.start.column,
        },
        _ => fallback.clone(),
    }
}

#[cfg(test)]
mod tests;
