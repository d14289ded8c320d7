//! The parsed form of a job file: its statements (sources, views, tables, inserts and merges) with their
//! locations, expectations and parameters, and its schedule. Parsing is [`super::parse`]'s; this module only
//! describes the result.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::sql::parser::CreateExternalTable;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Query};

use super::maintenance::Maintenance;
use super::names::{TableRef, name_location, normalize_name};
use super::refs;
use super::schedule::Schedule;
use crate::error::SourceLocation;

/// A parsed job file.
#[derive(Debug, Clone)]
pub struct JobFile {
    /// The path as given (used in every error message).
    pub path: Arc<str>,
    /// The statements in file order; never empty (a file without statements does not parse).
    pub statements: Vec<JobStatement>,
    /// When the job runs, if its `--! schedule` line says.
    pub schedule: Option<Schedule>,
    /// Table maintenance after a successful run's commits (`--! optimize`, `--! vacuum`), in file order.
    pub maintenance: Vec<Maintenance>,
}

impl JobFile {
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
    /// What the statement declares, parsed.
    pub kind: StatementKind,
    /// `${param}` uses in this statement, with their locations.
    pub parameters: Vec<(String, SourceLocation)>,
    /// For a copy of a `FOR` template, the value that made it (`n = 8`); see [`super::template`].
    pub template: Option<String>,
}

/// What a statement declares.
#[derive(Debug, Clone)]
pub enum StatementKind {
    /// `CREATE EXTERNAL TABLE`: a source table.
    Source(Box<CreateExternalTable>),
    /// `CREATE VIEW`: a logical stage (materialized for the run when it declares expectations).
    View {
        /// The view's name as written ([`JobStatement::target`] has it normalized).
        name: ObjectName,
        /// The view's `AS` query.
        query: Box<Query>,
        /// `CONSTRAINT name EXPECT (condition) [ON VIOLATION …]` rules on its rows.
        expectations: Vec<Expectation>,
    },
    /// `CREATE TABLE … AS`: a materialized stage.
    Table {
        /// The table's name as written ([`JobStatement::target`] has it normalized).
        name: ObjectName,
        /// `PARTITIONED BY (col, …)`: the Delta partition columns; empty when unpartitioned.
        partitioned_by: Vec<Ident>,
        /// `EVENT TIME (column)`: the column holding each row's event time (or the start of its bucket), which
        /// makes the table incremental: runs rewrite only the time range new or backfilled data touches.
        event_time: Option<Ident>,
        /// The table's `AS` query.
        query: Box<Query>,
        /// `CONSTRAINT name EXPECT (condition) [ON VIOLATION …]` rules on its rows.
        expectations: Vec<Expectation>,
    },
    /// `INSERT INTO … <query>`: an append; or `MERGE INTO target USING source ON …` (`merge` is set, `query` is the
    /// source).
    Insert {
        /// The table appended or merged into, as written ([`JobStatement::target`] has it normalized).
        target: ObjectName,
        /// The rows to insert; for a merge, its `USING` source (a table becomes `SELECT * FROM table`).
        query: Box<Query>,
        /// Set for `MERGE INTO`: its aliases, `ON` condition and `WHEN` clauses; `None` for a plain insert.
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
    /// The action's lower-case name: `warn`, `drop`, `quarantine` or `fail`.
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
    /// The rule's name, normalized like an identifier; unique among the statement's rules.
    pub name: String,
    /// The condition every row must meet (`EXPECT (condition)`).
    pub condition: datafusion::sql::sqlparser::ast::Expr,
    /// What happens to violating rows: `ON VIOLATION …`, [`ViolationAction::Warn`] when not given.
    pub action: ViolationAction,
    /// Where the rule's `CONSTRAINT` keyword is.
    pub location: SourceLocation,
}

/// A `MERGE INTO` statement's matching and actions (its source query is the statement's query).
#[derive(Debug, Clone)]
pub struct MergeSpec {
    /// The target's alias (`MERGE INTO t AS x`), or `target` when none is given.
    pub target_alias: String,
    /// The source's alias (`USING … AS s`), or `source` when none is given.
    pub source_alias: String,
    /// The `ON` condition matching source rows to target rows.
    pub on: datafusion::sql::sqlparser::ast::Expr,
    /// The `WHEN [NOT] MATCHED … THEN …` clauses, in the order written.
    pub clauses: Vec<datafusion::sql::sqlparser::ast::MergeClause>,
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
