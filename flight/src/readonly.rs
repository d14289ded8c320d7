//! Only queries run through Flight SQL.
//!
//! Jobs are the warehouse's only writers: they commit every output once, after all stages succeeded, and record
//! the run in the ledger. A Flight SQL client that could `CREATE TABLE … AS`, `INSERT`, `COPY … TO` (write any
//! file the server can), `CREATE EXTERNAL TABLE` (read any path or URL the server can, as a table) or `SET`
//! session options would bypass all of that, so the endpoint is read-only, with two independent guards:
//!
//! 1. before planning, the statement is parsed with DataFusion's parser and checked against an allow-list:
//!    `SELECT`/`WITH`/`VALUES` queries, `EXPLAIN [ANALYZE]` of a query, `SHOW …` and `DESCRIBE`;
//! 2. planning goes through `SessionContext::sql_with_options` with DDL, DML and statements disallowed, so a
//!    plan that still contains a write is refused by DataFusion itself.
//!
//! Clients (ADBC, JDBC) write parameters as `?`; DataFusion only numbers `$1, $2, …`, so `?` placeholders are
//! rewritten to positional ones first (with the tokenizer: a `?` in a string literal or comment is left alone).

use datafusion::prelude::SQLOptions;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use tonic::Status;

/// The start of every refusal.
pub const READ_ONLY: &str = "Strata's Flight SQL service is read-only";

/// A statement that passed the read-only check, with its SQL as it will be planned.
#[derive(Debug, Clone)]
pub struct ReadOnlyQuery {
    /// The SQL with `?` placeholders numbered `$1, $2, …`.
    pub sql: String,
    pub statement: Statement,
}

impl ReadOnlyQuery {
    /// Whether planning may need every table (SHOW and DESCRIBE read the information schema), rather than only
    /// the tables the statement names.
    pub fn needs_all_tables(&self) -> bool {
        fn query_like(statement: &Statement) -> bool {
            match statement {
                Statement::Statement(s) => matches!(s.as_ref(), SqlStatement::Query(_)),
                Statement::Explain(e) => query_like(&e.statement),
                _ => false,
            }
        }
        !query_like(&self.statement)
    }
}

/// DataFusion's own guard: no DDL, no DML (including `COPY`), no statements such as `SET`.
pub fn sql_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Number bare `?` placeholders `$1, $2, …` in order of appearance; everything else is kept byte for byte.
pub fn number_placeholders(sql: &str) -> String {
    let dialect = GenericDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize_with_location() else {
        // Not even tokenizable: the parser reports the error.
        return sql.to_string();
    };
    let mut marks = tokens
        .iter()
        .filter(|t| matches!(&t.token, Token::Placeholder(p) if p == "?"))
        .map(|t| (t.span.start.line, t.span.start.column))
        .peekable();
    if marks.peek().is_none() {
        return sql.to_string();
    }
    // Walk the text counting lines and columns as the tokenizer does (columns in characters, from 1).
    let mut out = String::with_capacity(sql.len() + 8);
    let (mut line, mut column) = (1u64, 1u64);
    let mut number = 0usize;
    for ch in sql.chars() {
        if ch == '?' && marks.peek() == Some(&(line, column)) {
            marks.next();
            number += 1;
            out.push('$');
            out.push_str(&number.to_string());
        } else {
            out.push(ch);
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    out
}

/// Parse `sql` and accept it only if it is one read-only statement.
pub fn check(sql: &str) -> Result<ReadOnlyQuery, Status> {
    let sql = number_placeholders(sql);
    let mut statements = DFParser::parse_sql(&sql)
        .map_err(|e| Status::invalid_argument(format!("SQL error: {}", e.strip_backtrace())))?;
    if statements.len() != 1 {
        return Err(Status::invalid_argument(format!(
            "send exactly one SQL statement per request (got {})",
            statements.len()
        )));
    }
    let Some(mut statement) = statements.pop_front() else {
        return Err(Status::invalid_argument("empty SQL statement"));
    };
    // `OVER (w ROWS …)`: written out in full, as in job files (DataFusion 55 would drop the named window).
    let mut sql = sql;
    if let Statement::Statement(s) = &mut statement
        && let SqlStatement::Query(query) = s.as_mut()
    {
        let before = query.to_string();
        strata_sql::job::refine_windows(query).map_err(|e| Status::invalid_argument(format!("SQL error: {e}")))?;
        if query.to_string() != before {
            sql = statement.to_string();
        }
    }
    ensure_read_only(&statement).map_err(|what| {
        Status::permission_denied(format!(
            "{READ_ONLY}: {what} is not allowed; only queries (SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE) run \
             here, and tables are written by Strata jobs"
        ))
    })?;
    Ok(ReadOnlyQuery { sql, statement })
}

/// `Err` names what is not allowed.
fn ensure_read_only(statement: &Statement) -> Result<(), String> {
    match statement {
        Statement::Statement(s) => ensure_sql_read_only(s),
        Statement::Explain(explain) => ensure_read_only(&explain.statement),
        Statement::CreateExternalTable(_) => Err("CREATE EXTERNAL TABLE".into()),
        Statement::CopyTo(_) => Err("COPY … TO".into()),
        Statement::Reset(_) => Err("RESET".into()),
    }
}

fn ensure_sql_read_only(statement: &SqlStatement) -> Result<(), String> {
    match statement {
        SqlStatement::Query(query) => ensure_query(query),
        SqlStatement::Explain { statement, .. } => ensure_sql_read_only(statement),
        SqlStatement::ExplainTable { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ShowFunctions { .. }
        | SqlStatement::ShowVariable { .. }
        | SqlStatement::ShowCreate { .. } => Ok(()),
        other => Err(kind(&other.to_string())),
    }
}

fn ensure_query(query: &Query) -> Result<(), String> {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            ensure_query(&cte.query)?;
        }
    }
    ensure_set_expr(&query.body)
}

fn ensure_set_expr(body: &SetExpr) -> Result<(), String> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Err("SELECT … INTO".into()),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) => Ok(()),
        SetExpr::Query(query) => ensure_query(query),
        SetExpr::SetOperation { left, right, .. } => {
            ensure_set_expr(left)?;
            ensure_set_expr(right)
        }
        SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => Err(kind(&s.to_string())),
    }
}

/// A statement's leading keywords, for messages: `INSERT`, `CREATE TABLE`, `DROP VIEW`, `SET`, …
fn kind(sql: &str) -> String {
    const QUALIFIERS: &[&str] = &[
        "OR",
        "REPLACE",
        "EXTERNAL",
        "TEMPORARY",
        "TEMP",
        "UNLOGGED",
        "MATERIALIZED",
        "UNIQUE",
        "IF",
        "NOT",
        "EXISTS",
        "TABLE",
        "VIEW",
        "SCHEMA",
        "DATABASE",
        "CATALOG",
        "FUNCTION",
        "INDEX",
    ];
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    let Some(first) = words.next() else {
        return "this statement".into();
    };
    let qualified = matches!(first.as_str(), "CREATE" | "DROP" | "ALTER" | "TRUNCATE");
    let mut out = first;
    if qualified {
        for word in words.take_while(|w| QUALIFIERS.contains(&w.as_str())) {
            out.push(' ');
            out.push_str(&word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> Status {
        match check(sql) {
            Ok(q) => panic!("{sql} was accepted as {:?}", q.sql),
            Err(status) => status,
        }
    }

    #[test]
    fn queries_are_allowed() {
        for sql in [
            "SELECT 1",
            "select * from gold.daily_indicators where symbol = 'AAPL' order by trade_date",
            "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
            "VALUES (1, 'a'), (2, 'b')",
            "SELECT 1 UNION ALL SELECT 2",
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
            "SHOW COLUMNS FROM gold.daily_indicators",
            "DESCRIBE gold.daily_indicators",
            "SELECT sma(close, 20) OVER (PARTITION BY symbol ORDER BY trade_date) FROM silver.daily_bars",
        ] {
            assert!(check(sql).is_ok(), "{sql}: {:?}", check(sql).err());
        }
        assert!(!check("SELECT 1").unwrap().needs_all_tables());
        assert!(!check("EXPLAIN SELECT 1").unwrap().needs_all_tables());
        assert!(check("SHOW TABLES").unwrap().needs_all_tables());
    }

    #[test]
    fn writes_are_refused() {
        for (sql, what) in [
            ("COPY (SELECT 1) TO '/tmp/x'", "COPY"),
            ("COPY (SELECT 1) TO '/tmp/x' STORED AS PARQUET", "COPY"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            (
                "CREATE EXTERNAL TABLE t STORED AS DELTA LOCATION 'gold/daily_indicators'",
                "CREATE EXTERNAL TABLE",
            ),
            ("CREATE TABLE t AS SELECT 1", "CREATE TABLE"),
            ("CREATE OR REPLACE VIEW v AS SELECT 1", "CREATE OR REPLACE VIEW"),
            ("INSERT INTO gold.t VALUES (1)", "INSERT"),
            ("DELETE FROM gold.t", "DELETE"),
            ("UPDATE gold.t SET a = 1", "UPDATE"),
            ("DROP TABLE gold.t", "DROP TABLE"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("RESET datafusion.execution.batch_size", "RESET"),
            ("EXPLAIN COPY (SELECT 1) TO '/tmp/x'", "COPY"),
            ("EXPLAIN ANALYZE INSERT INTO gold.t VALUES (1)", "INSERT"),
        ] {
            let status = refused(sql);
            assert_eq!(status.code(), tonic::Code::PermissionDenied, "{sql}: {status:?}");
            assert!(status.message().starts_with(READ_ONLY), "{sql}: {}", status.message());
            assert!(status.message().contains(what), "{sql}: {}", status.message());
        }
        // Whatever the parser makes of these, they never run.
        for sql in [
            "SELECT 1 INTO t2",
            "PREPARE p AS SELECT 1",
            "EXECUTE p",
            "BEGIN",
            "USE gold",
        ] {
            refused(sql);
        }
    }

    #[test]
    fn a_frame_added_to_a_named_window_keeps_the_window() {
        let q =
            check("SELECT sum(x) OVER (w ROWS 1 PRECEDING) FROM t WINDOW w AS (PARTITION BY g ORDER BY i)").unwrap();
        assert!(
            q.sql.contains("OVER (PARTITION BY g ORDER BY i ROWS 1 PRECEDING)"),
            "{}",
            q.sql
        );
        let plain = "SELECT sum(x) OVER w FROM t WINDOW w AS (PARTITION BY g)";
        assert_eq!(check(plain).unwrap().sql, plain, "untouched when nothing is refined");
        let e = check("SELECT sum(x) OVER (v ROWS 1 PRECEDING) FROM t").unwrap_err();
        assert!(e.message().contains("'v' is not defined"), "{}", e.message());
    }

    #[test]
    fn one_statement_per_request() {
        let status = refused("SELECT 1; DROP TABLE gold.t");
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(refused("SELEC 1").code(), tonic::Code::InvalidArgument);
        assert_eq!(refused("").code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn question_marks_become_positional_placeholders() {
        assert_eq!(
            number_placeholders("SELECT ?, '?', \"?\" -- ?\nFROM t WHERE a = ? AND b = $3"),
            "SELECT $1, '?', \"?\" -- ?\nFROM t WHERE a = $2 AND b = $3"
        );
        assert_eq!(
            number_placeholders("SELECT 'é', ? /* ? */, ?"),
            "SELECT 'é', $1 /* ? */, $2"
        );
        assert_eq!(number_placeholders("SELECT 1"), "SELECT 1");
        let q = check("SELECT * FROM gold.daily_indicators WHERE symbol = ? ORDER BY trade_date").unwrap();
        assert_eq!(
            q.sql,
            "SELECT * FROM gold.daily_indicators WHERE symbol = $1 ORDER BY trade_date"
        );
    }

    #[tokio::test]
    async fn datafusion_refuses_writes_too() {
        let ctx = datafusion::prelude::SessionContext::new();
        for sql in [
            "CREATE TABLE t AS SELECT 1",
            "COPY (SELECT 1) TO '/tmp/strata-flight-never-written.csv'",
            "SET datafusion.execution.batch_size = 1",
            "CREATE VIEW v AS SELECT 1",
        ] {
            assert!(ctx.sql_with_options(sql, sql_options()).await.is_err(), "{sql}");
        }
        assert!(ctx.sql_with_options("SELECT 1", sql_options()).await.is_ok());
        assert!(!std::path::Path::new("/tmp/strata-flight-never-written.csv").exists());
    }
}
