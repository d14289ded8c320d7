//! A PostgreSQL table's `OPTIONS (…)` and its `table` name.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::connection::{ConnectOptions, quote_ident};
use super::tls::TlsMode;
use crate::error::{ConnectorError, Result};

/// A table name as written in the `table` option: `name` or `schema.name`, each part optionally double-quoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableName {
    /// The schema, when the name is `schema.name`; otherwise the server's search path decides.
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
}

impl TableName {
    /// Parse `name` or `schema.name`: unquoted parts are lower-cased, as PostgreSQL folds them; double-quoted parts
    /// keep their case (`""` is a quote).
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut chars = text.trim().chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    current.push('"');
                }
                '"' => quoted = !quoted,
                '.' if !quoted => parts.push(std::mem::take(&mut current)),
                c if quoted => current.push(c),
                c => current.push(c.to_ascii_lowercase()),
            }
        }
        parts.push(current);
        let bad = || ConnectorError::PostgresTableName { text: text.into() };
        if quoted || parts.iter().any(String::is_empty) {
            return Err(bad());
        }
        match parts.as_slice() {
            [name] => Ok(Self {
                schema: None,
                name: name.clone(),
            }),
            [schema, name] => Ok(Self {
                schema: Some(schema.clone()),
                name: name.clone(),
            }),
            _ => Err(bad()),
        }
    }

    /// The quoted SQL name.
    pub fn sql(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// A table's options, as given in `OPTIONS (…)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgOptions {
    /// The table (`table`; required).
    pub table: TableName,
    /// Upsert key of a sink (`key 'symbol, day'`); a sink without one appends.
    pub key: Vec<String>,
    /// Indexes a sink creates if missing (`indexes 'symbol; timestamp'`: `;` between indexes, `,` inside one).
    pub indexes: Vec<Vec<String>>,
    /// Column whose value range splits a read into parallel ranges (integer, date or timestamp).
    pub partition_column: Option<String>,
    /// How many ranges a read is split into (`partitions`); the session's target partitions unless given.
    pub partitions: Option<usize>,
    /// Connection settings: credentials, timeouts, retries, TLS.
    pub connect: ConnectOptions,
}

fn column_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|c| c.trim().trim_matches('"').to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

impl PgOptions {
    /// Options from `OPTIONS (…)`; unknown keys are errors (a typo must not be ignored).
    pub fn parse(raw: &[(String, String)]) -> Result<Self> {
        let bad = |option: &str, value: &str, expected: &'static str| ConnectorError::PostgresOption {
            option: option.into(),
            value: value.into(),
            expected,
        };
        let mut table = None;
        let mut options = PgOptions {
            table: TableName {
                schema: None,
                name: String::new(),
            },
            key: Vec::new(),
            indexes: Vec::new(),
            partition_column: None,
            partitions: None,
            connect: ConnectOptions::default(),
        };
        for (key, value) in raw {
            let key = key.trim_start_matches("format.").to_ascii_lowercase();
            match key.as_str() {
                "table" => table = Some(TableName::parse(value)?),
                "key" | "primary_key" => options.key = column_list(value),
                "indexes" => {
                    options.indexes = value.split(';').map(column_list).filter(|i| !i.is_empty()).collect();
                }
                "partition_column" => options.partition_column = Some(value.trim().to_string()),
                "partitions" => {
                    let n: usize = value
                        .parse()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| bad(&key, value, "a positive integer"))?;
                    options.partitions = Some(n);
                }
                "user" => options.connect.credentials.user = Some(value.clone()),
                "password_file" => options.connect.credentials.password_file = Some(PathBuf::from(value)),
                // The value is dropped here: an error must never carry a password.
                "password" => return Err(ConnectorError::PostgresPasswordOption),
                "connect_timeout" => {
                    let secs: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| bad(&key, value, "a positive number of seconds"))?;
                    options.connect.connect_timeout = Duration::from_secs(secs);
                }
                "sslmode" => {
                    options.connect.tls = match value.to_ascii_lowercase().as_str() {
                        "disable" => TlsMode::Disable,
                        "prefer" => TlsMode::Prefer,
                        "require" => TlsMode::Require,
                        "verify-ca" | "verify-full" => TlsMode::VerifyFull,
                        _ => return Err(bad(&key, value, "disable, prefer, require or verify-full")),
                    };
                }
                "sslrootcert" => options.connect.root_cert = Some(PathBuf::from(value)),
                "retries" => {
                    options.connect.retries = value.parse().map_err(|_| bad(&key, value, "a number"))?;
                }
                other => return Err(ConnectorError::PostgresUnknownOption { option: other.into() }),
            }
        }
        options.table = table.ok_or(ConnectorError::PostgresNoTable)?;
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_and_options() {
        let t = TableName::parse("Public.\"Stock \"\"Prices\"").unwrap();
        assert_eq!(t.schema.as_deref(), Some("public"));
        assert_eq!(t.name, "Stock \"Prices");
        assert_eq!(t.sql(), "\"public\".\"Stock \"\"Prices\"");
        assert!(TableName::parse("a.b.c").is_err());
        let raw = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let o = PgOptions::parse(&raw(&[
            ("table", "t"),
            ("key", "symbol, day"),
            ("indexes", "symbol; day, symbol"),
        ]))
        .unwrap();
        assert_eq!(o.key, vec!["symbol", "day"]);
        assert_eq!(
            o.indexes,
            vec![vec!["symbol".to_string()], vec!["day".into(), "symbol".into()]]
        );
        let e = PgOptions::parse(&raw(&[("table", "t"), ("password", "hunter2")]))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(PgOptions::parse(&raw(&[("table", "t"), ("tabel", "x")])).is_err());
        assert!(PgOptions::parse(&raw(&[("key", "x")])).is_err());
    }
}
