//! What the server's catalog says about a table: its columns (from `pg_attribute`, which, unlike
//! `information_schema`, reports negative numeric scales and hides nothing), and the unique keys an upsert can use.
//! Also the DDL Strata runs for tables and indexes a job declares.

use tokio_postgres::Client;

use super::connection::quote_ident;
use super::options::TableName;
use super::types::{PgColumn, PgType};
use crate::error::{ConnectorError, Result};

fn catalog_err(table: &TableName) -> impl Fn(tokio_postgres::Error) -> ConnectorError + '_ {
    move |source| ConnectorError::PostgresQuery {
        table: table.to_string(),
        source,
    }
}

/// A table's columns as the catalog lists them (generated columns are flagged: they are never written).
#[derive(Debug, Clone)]
pub struct TableInfo {
    /// The columns Strata maps, in table order (generated ones included).
    pub columns: Vec<PgColumn>,
    /// Names of the generated columns: they are read, never written.
    pub generated: Vec<String>,
    /// Columns of types Strata does not map, with the reason.
    pub unsupported: Vec<(String, String)>,
    /// Column sets of the primary key and of every immediate, non-partial unique index.
    pub unique_keys: Vec<Vec<String>>,
}

const COLUMNS_SQL: &str = "SELECT a.attname::text, a.atttypid::oid, a.atttypmod, format_type(a.atttypid, a.atttypmod), \
     NOT a.attnotnull, a.attgenerated <> '' \
     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

const UNIQUE_SQL: &str = "SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index i \
     CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) \
     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
     WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indimmediate \
       AND i.indpred IS NULL AND i.indexprs IS NULL \
     GROUP BY i.indexrelid ORDER BY bool_or(i.indisprimary) DESC";

/// The table's description, or `None` when it does not exist.
pub async fn describe_table(client: &Client, table: &TableName) -> Result<Option<TableInfo>> {
    let name = table.sql();
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .map_err(catalog_err(table))?;
    if !exists.get::<_, bool>(0) {
        return Ok(None);
    }
    let rows = client.query(COLUMNS_SQL, &[&name]).await.map_err(catalog_err(table))?;
    let mut columns = Vec::with_capacity(rows.len());
    let mut generated = Vec::new();
    let mut unsupported = Vec::new();
    for row in rows {
        let column: String = row.get(0);
        let oid: u32 = row.get(1);
        let typmod: i32 = row.get(2);
        let sql_type: String = row.get(3);
        let pg_type = match PgType::from_catalog(oid, typmod, &sql_type) {
            Ok(t) => t,
            Err(ConnectorError::PostgresType { problem }) => {
                unsupported.push((column, problem.to_string()));
                continue;
            }
            Err(other) => return Err(other),
        };
        if row.get::<_, bool>(5) {
            generated.push(column.clone());
        }
        columns.push(PgColumn {
            name: column,
            pg_type,
            nullable: row.get(4),
            sql_type,
        });
    }
    let unique_keys = client
        .query(UNIQUE_SQL, &[&name])
        .await
        .map_err(catalog_err(table))?
        .into_iter()
        .map(|r| r.get::<_, Vec<String>>(0))
        .collect();
    Ok(Some(TableInfo {
        columns,
        generated,
        unsupported,
        unique_keys,
    }))
}

/// `CREATE TABLE IF NOT EXISTS` with the columns and, when given, the key as primary key.
pub fn create_table_sql(table: &TableName, columns: &[PgColumn], key: &[String]) -> String {
    let mut parts: Vec<String> = columns
        .iter()
        .map(|c| {
            let not_null = if !c.nullable || key.contains(&c.name) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {}{not_null}", quote_ident(&c.name), c.pg_type.sql())
        })
        .collect();
    if !key.is_empty() {
        let key: Vec<String> = key.iter().map(|k| quote_ident(k)).collect();
        parts.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    format!("CREATE TABLE IF NOT EXISTS {} ({})", table.sql(), parts.join(", "))
}

/// `CREATE INDEX IF NOT EXISTS table_col1_col2_idx` (names cut to PostgreSQL's 63 bytes).
pub fn create_index_sql(table: &TableName, columns: &[String]) -> String {
    let mut name = format!("{}_{}_idx", table.name, columns.join("_"));
    while name.len() > 63 {
        name.pop();
    }
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    format!(
        "CREATE INDEX IF NOT EXISTS {} ON {} ({})",
        quote_ident(&name),
        table.sql(),
        cols.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl() {
        let table = TableName::parse("analytics.daily").unwrap();
        let columns = vec![
            PgColumn {
                name: "symbol".into(),
                pg_type: PgType::Text,
                nullable: true,
                sql_type: "text".into(),
            },
            PgColumn {
                name: "close".into(),
                pg_type: PgType::Numeric {
                    precision: 18,
                    scale: 4,
                    constrained: true,
                },
                nullable: true,
                sql_type: "numeric(18,4)".into(),
            },
        ];
        assert_eq!(
            create_table_sql(&table, &columns, &["symbol".into()]),
            "CREATE TABLE IF NOT EXISTS \"analytics\".\"daily\" (\"symbol\" text NOT NULL, \"close\" numeric(18,4), \
             PRIMARY KEY (\"symbol\"))"
        );
        assert_eq!(
            create_index_sql(&table, &["symbol".into()]),
            "CREATE INDEX IF NOT EXISTS \"daily_symbol_idx\" ON \"analytics\".\"daily\" (\"symbol\")"
        );
    }
}
