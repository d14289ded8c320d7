//! `STORED AS POSTGRES`: PostgreSQL tables in a job. Planning connects once: the table's columns come from the
//! catalog and every declared column, key, index and partition column is checked against it, so a wrong password,
//! an unreachable server, a missing table or a type mismatch stops the job before anything runs. A table the job
//! reads becomes a [`PgTable`]; a table it inserts into becomes a [`PgSink`], written in the commit phase.
//!
//! A declared column with `GENERATED [BY DEFAULT | ALWAYS] AS IDENTITY` or `DEFAULT now()` (`CURRENT_TIMESTAMP`) is
//! filled by the server: inserts leave it out, and a table the job creates gets it as an identity or a `DEFAULT
//! now()` column. A table the job both reads and inserts into may be missing on the first run: it reads as empty
//! (with its declared columns) and is created by the commit.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::datasource::ViewTable;
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::CreateExternalTable;
use strata_connectors::postgres::catalog::{TableInfo, describe_table};
use strata_connectors::postgres::scan::{PgSource, PgTable, splittable};
use strata_connectors::postgres::sink::PgSink;
use strata_connectors::postgres::types::{FilledColumn, PgColumn, PgType, ServerFill};
use strata_connectors::postgres::{DEFAULT_SERVER_VAR, PgAddress, PgOptions, connect};
use strata_sql::{JobStatement, StatementKind};

use super::options::{declared_schema, option_pairs, written_location};
use crate::dag::StageDag;
use crate::error::{Result, job_err};

/// What declaring a PostgreSQL table gave: a provider when the table exists, a sink when the job inserts into it.
pub(crate) struct Declared {
    pub source: Option<Arc<dyn TableProvider>>,
    pub sink: Option<PgSink>,
}

/// Plan a `STORED AS POSTGRES` statement.
pub(crate) async fn declare(
    ctx: &SessionContext,
    dag: &StageDag,
    index: usize,
    create: &CreateExternalTable,
    distributed: bool,
) -> Result<Declared> {
    let stmt = &dag.stages[index].statement;
    let name = stmt.target().name;
    let written = written_location(create);
    let server = std::env::var(DEFAULT_SERVER_VAR).ok();
    let address = PgAddress::parse(&written, server.as_deref()).map_err(|e| job_err(stmt, e))?;
    let options = PgOptions::parse(&option_pairs(create))
        .map_err(|e| job_err(stmt, format!("PostgreSQL table '{name}': {e}")))?;
    let declared = if create.columns.is_empty() {
        None
    } else {
        Some(declared_schema(ctx, stmt, create).await?)
    };
    let zoned = zoned_columns(create);
    let fills = server_fills(stmt, create)?;
    let inserted = dag
        .stages
        .iter()
        .any(|s| matches!(s.statement.kind, StatementKind::Insert { .. }) && s.statement.target().name == name);
    let read = dag
        .dependents(index)
        .any(|s| !matches!(s.statement.kind, StatementKind::Insert { .. }));

    let client = connect(&address, &options.connect, "strata-plan")
        .await
        .map_err(|e| job_err(stmt, format!("PostgreSQL table '{name}': {e}")))?;
    let info = describe_table(&client, &options.table)
        .await
        .map_err(|e| job_err(stmt, format!("PostgreSQL table '{name}': {e}")))?;
    drop(client);
    let pg_table = &options.table;
    let at = address.display();

    let Some(info) = info else {
        if !inserted || (read && declared.is_none()) {
            return Err(job_err(
                stmt,
                format!("PostgreSQL table '{name}': table {pg_table} does not exist in {at}"),
            ));
        }
        let Some(declared) = declared else {
            return Err(job_err(
                stmt,
                format!(
                    "PostgreSQL table '{name}': table {pg_table} does not exist in {at}; declare its columns so the \
                     job can create it"
                ),
            ));
        };
        let mut columns = Vec::with_capacity(declared.fields().len());
        let mut filled = Vec::new();
        for (position, f) in declared.fields().iter().enumerate() {
            let pg_type = PgType::for_arrow(&declared_type(f, &zoned))
                .map_err(|e| job_err(stmt, format!("PostgreSQL table '{name}', column '{}': {e}", f.name())))?;
            let column = PgColumn::new(f.name(), pg_type, f.is_nullable());
            match fills.iter().find(|(c, _, _)| c == f.name()) {
                Some((_, ServerFill::Identity, _))
                    if !matches!(pg_type, PgType::Int2 | PgType::Int4 | PgType::Int8) =>
                {
                    return Err(job_err(
                        stmt,
                        format!(
                            "PostgreSQL table '{name}', column '{}': an identity column must be SMALLINT, INT or \
                             BIGINT, not {}",
                            f.name(),
                            f.data_type()
                        ),
                    ));
                }
                Some((_, _, true)) if !options.key.is_empty() => {
                    return Err(job_err(
                        stmt,
                        format!(
                            "PostgreSQL table '{name}', column '{}': the table's primary key is its key option ({}); \
                             drop PRIMARY KEY from the column",
                            f.name(),
                            options.key.join(", ")
                        ),
                    ));
                }
                Some(&(_, fill, primary_key)) => filled.push(FilledColumn {
                    column: PgColumn {
                        nullable: false,
                        ..column
                    },
                    fill,
                    position,
                    primary_key,
                }),
                None => columns.push(column),
            }
        }
        let mut all: Vec<PgColumn> = columns.clone();
        all.extend(filled.iter().map(|f| f.column.clone()));
        check_columns(stmt, &name, &all, &options)?;
        // Read before it exists (the job's first run): no rows yet, the declared columns. A view of an empty relation,
        // which planning inlines, so a cluster gets a plan it can decode.
        let source = if read {
            let empty = LogicalPlan::EmptyRelation(EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(DFSchema::try_from(declared.as_ref().clone()).map_err(|e| job_err(stmt, e))?),
            });
            Some(Arc::new(ViewTable::new(empty, None)) as Arc<dyn TableProvider>)
        } else {
            None
        };
        return Ok(Declared {
            source,
            sink: Some(PgSink {
                address,
                options,
                columns,
                create: true,
                filled,
            }),
        });
    };

    let columns = match &declared {
        Some(declared) => {
            let mut columns = Vec::with_capacity(declared.fields().len());
            for f in declared.fields() {
                let Some(column) = info.columns.iter().find(|c| c.name == *f.name()) else {
                    let why = info
                        .unsupported
                        .iter()
                        .find(|(c, _)| c == f.name())
                        .map(|(_, why)| why.clone())
                        .unwrap_or_else(|| {
                            let have: Vec<&str> = info.columns.iter().map(|c| c.name.as_str()).collect();
                            format!("no such column (it has: {})", have.join(", "))
                        });
                    return Err(job_err(
                        stmt,
                        format!("PostgreSQL table '{name}', column '{}': {why}", f.name()),
                    ));
                };
                if !column.pg_type.accepts_declared(&declared_type(f, &zoned)) {
                    return Err(job_err(
                        stmt,
                        format!(
                            "PostgreSQL table '{name}': type mismatch in column '{}': the job declares {}, the table \
                             has {} (read as {})",
                            f.name(),
                            f.data_type(),
                            column.sql_type,
                            column.pg_type.arrow()
                        ),
                    ));
                }
                columns.push(column.clone());
            }
            columns
        }
        None => {
            for (column, why) in &info.unsupported {
                tracing::warn!(table = %pg_table, column, reason = %why, "column left out of the table");
            }
            info.columns.clone()
        }
    };
    check_columns(stmt, &name, &columns, &options)?;

    let sink = if inserted {
        let written: Vec<PgColumn> = columns
            .iter()
            .filter(|c| !info.generated.contains(&c.name) && !fills.iter().any(|(f, _, _)| *f == c.name))
            .cloned()
            .collect();
        if !options.key.is_empty() && !has_unique_key(&info, &options.key) {
            return Err(job_err(
                stmt,
                format!(
                    "PostgreSQL table '{name}': key ({}) is not the primary key or a unique index of {pg_table}; an \
                     upsert needs one (CREATE UNIQUE INDEX ON {pg_table} ({}))",
                    options.key.join(", "),
                    options.key.join(", ")
                ),
            ));
        }
        Some(PgSink {
            address: address.clone(),
            options: options.clone(),
            columns: written,
            create: false,
            filled: Vec::new(),
        })
    } else {
        None
    };

    let partition_column = match &options.partition_column {
        Some(column) => {
            let c = columns.iter().find(|c| c.name == *column).ok_or_else(|| {
                job_err(
                    stmt,
                    format!("PostgreSQL table '{name}': partition_column '{column}' is not a column"),
                )
            })?;
            if !splittable(c.pg_type) {
                return Err(job_err(
                    stmt,
                    format!(
                        "PostgreSQL table '{name}': partition_column '{column}' is {}; use an integer, date or \
                         timestamp column",
                        c.sql_type
                    ),
                ));
            }
            Some(column.clone())
        }
        None => info
            .unique_keys
            .first()
            .and_then(|key| key.first())
            .and_then(|k| columns.iter().find(|c| c.name == *k))
            .filter(|c| splittable(c.pg_type))
            .map(|c| c.name.clone()),
    };
    let source = PgSource {
        address,
        options,
        columns,
        partition_column,
        single_task: distributed,
    };
    Ok(Declared {
        source: Some(Arc::new(PgTable::new(source))),
        sink,
    })
}

/// Declared columns the server fills, and how. Any other default or generated expression is refused: Strata
/// would neither write the column nor know what the server puts there.
fn server_fills(stmt: &JobStatement, create: &CreateExternalTable) -> Result<Vec<(String, ServerFill, bool)>> {
    use datafusion::sql::sqlparser::ast::{ColumnOption, Expr};
    let mut fills = Vec::new();
    for c in &create.columns {
        let name = strata_sql::job::normalize_ident(&c.name);
        let primary = c
            .options
            .iter()
            .any(|o| matches!(o.option, ColumnOption::PrimaryKey(_)));
        for option in &c.options {
            let fill = match &option.option {
                ColumnOption::Generated {
                    generation_expr: None, ..
                } => ServerFill::Identity,
                ColumnOption::Default(expr) => {
                    let text = expr.to_string().to_ascii_lowercase();
                    let now = matches!(expr, Expr::Function(_) | Expr::Identifier(_))
                        && ["now()", "current_timestamp", "current_timestamp()", "localtimestamp"]
                            .contains(&text.as_str());
                    if !now {
                        return Err(job_err(
                            stmt,
                            format!(
                                "column '{name}': DEFAULT {expr}: a PostgreSQL table's columns may default to now() \
                                 only (or be GENERATED BY DEFAULT AS IDENTITY)"
                            ),
                        ));
                    }
                    ServerFill::Now
                }
                ColumnOption::Generated { .. } => {
                    return Err(job_err(
                        stmt,
                        format!(
                            "column '{name}': only identity columns can be generated (GENERATED BY DEFAULT AS IDENTITY)"
                        ),
                    ));
                }
                _ => continue,
            };
            fills.push((name.clone(), fill, primary && fill == ServerFill::Identity));
        }
    }
    Ok(fills)
}

/// Columns declared `TIMESTAMP WITH TIME ZONE` / `TIMESTAMPTZ`. DataFusion gives them a zone only when the session
/// has one, so the declaration itself decides: they are `timestamptz` columns.
fn zoned_columns(create: &CreateExternalTable) -> BTreeSet<String> {
    use datafusion::sql::sqlparser::ast::{DataType as SqlType, TimezoneInfo};
    create
        .columns
        .iter()
        .filter(|c| {
            matches!(
                c.data_type,
                SqlType::Timestamp(_, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz)
            )
        })
        .map(|c| strata_sql::job::normalize_ident(&c.name))
        .collect()
}

/// A declared column's type, with the declaration's time zone restored.
fn declared_type(field: &Field, zoned: &BTreeSet<String>) -> DataType {
    match field.data_type() {
        DataType::Timestamp(unit, None) if zoned.contains(field.name()) => {
            DataType::Timestamp(*unit, Some("UTC".into()))
        }
        other => other.clone(),
    }
}

fn has_unique_key(info: &TableInfo, key: &[String]) -> bool {
    let wanted: BTreeSet<&String> = key.iter().collect();
    info.unique_keys
        .iter()
        .any(|k| k.iter().collect::<BTreeSet<_>>() == wanted)
}

/// Key and index columns must be columns of the table.
fn check_columns(stmt: &JobStatement, name: &str, columns: &[PgColumn], options: &PgOptions) -> Result<()> {
    let known = |c: &String| columns.iter().any(|col| col.name == *c);
    for (what, list) in std::iter::once(("key", &options.key)).chain(options.indexes.iter().map(|i| ("index", i))) {
        if let Some(missing) = list.iter().find(|c| !known(c)) {
            return Err(job_err(
                stmt,
                format!("PostgreSQL table '{name}': {what} column '{missing}' is not a column of the table"),
            ));
        }
    }
    Ok(())
}
