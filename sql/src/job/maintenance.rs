//! The `--! optimize` and `--! vacuum` directives: table maintenance a job asks for after its commits.
//!
//! ```sql
//! --! optimize silver.bars_3d zorder by symbol
//! --! vacuum silver.bars_3d retain 168
//! ```
//!
//! `optimize TABLE [zorder by COL, …]` compacts the table's small files (Z-ordered by the columns when given);
//! `vacuum TABLE [retain HOURS]` deletes the files no version within the retention needs (default: the table's
//! own, 7 days unless set; a job never forces a shorter one). Each names a table the job writes; they run in file
//! order once every commit of a successful run is done. A malformed one is an error naming the file and line.

use crate::error::{Result, SourceLocation, SqlError};

/// What a maintenance directive does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaintenanceKind {
    /// Compact small files; Z-order by these columns when any.
    Optimize {
        /// Columns to Z-order by (empty: bin-packing).
        zorder_by: Vec<String>,
    },
    /// Delete files no version within the retention needs.
    Vacuum {
        /// Hours of history kept (none: the table's `delta.deletedFileRetentionDuration`).
        retain_hours: Option<u64>,
    },
}

/// One `--! optimize` or `--! vacuum` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    /// The table, as the job names it (`schema.table`, lower case unless quoted there).
    pub table: String,
    /// What to do.
    pub kind: MaintenanceKind,
    /// The directive's line (column 1).
    pub location: SourceLocation,
}

impl Maintenance {
    /// `optimize` or `vacuum`.
    pub fn action(&self) -> &'static str {
        match self.kind {
            MaintenanceKind::Optimize { .. } => "optimize",
            MaintenanceKind::Vacuum { .. } => "vacuum",
        }
    }
}

/// The directive names this module reads.
pub(crate) const NAMES: [&str; 2] = ["optimize", "vacuum"];

/// The maintenance directives of the job file at `path`, in file order.
pub fn maintenance_directives(path: &str, text: &str) -> Result<Vec<Maintenance>> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("--!") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        let Some(&name) = words.first().filter(|w| NAMES.contains(w)) else {
            continue;
        };
        let location = SourceLocation {
            file: path.into(),
            line: n as u64 + 1,
            column: 1,
        };
        let err = |message: String| SqlError::Directive {
            location: location.clone(),
            message,
        };
        let Some(table) = words.get(1).filter(|t| is_table_name(t)) else {
            return Err(err(format!(
                "--! {name} needs a table the job writes: --! {name} schema.table{}",
                if name == "optimize" {
                    " [zorder by column, …]"
                } else {
                    " [retain HOURS]"
                }
            )));
        };
        let table = table.to_ascii_lowercase();
        let tail = &words[2..];
        let kind = match (name, tail) {
            ("optimize", []) => MaintenanceKind::Optimize { zorder_by: Vec::new() },
            ("optimize", ["zorder", "by", columns @ ..]) if !columns.is_empty() => MaintenanceKind::Optimize {
                zorder_by: columns
                    .join(" ")
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .collect(),
            },
            ("vacuum", []) => MaintenanceKind::Vacuum { retain_hours: None },
            ("vacuum", ["retain", hours]) => MaintenanceKind::Vacuum {
                retain_hours: Some(
                    hours
                        .parse()
                        .map_err(|_| err(format!("retain '{hours}' is not a number of hours")))?,
                ),
            },
            (_, other) => return Err(err(format!("unexpected '{}' in --! {name}", other.join(" ")))),
        };
        found.push(Maintenance { table, kind, location });
    }
    Ok(found)
}

fn is_table_name(word: &str) -> bool {
    !word.is_empty()
        && word
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_name_the_table_and_what_to_do() {
        let text = "--! schedule '@daily'\n--! optimize Silver.Bars_3d zorder by symbol, date\n\
                    CREATE TABLE silver.bars_3d AS SELECT 1 AS x;\n--! vacuum silver.bars_3d retain 24\n--! vacuum a.b";
        let found = maintenance_directives("j.sql", text).unwrap();
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].table, "silver.bars_3d");
        assert_eq!(
            found[0].kind,
            MaintenanceKind::Optimize {
                zorder_by: vec!["symbol".into(), "date".into()]
            }
        );
        assert_eq!(found[0].location.line, 2);
        assert_eq!(found[1].kind, MaintenanceKind::Vacuum { retain_hours: Some(24) });
        assert_eq!(found[2].kind, MaintenanceKind::Vacuum { retain_hours: None });
        assert_eq!(found[2].action(), "vacuum");
    }

    #[test]
    fn malformed_directives_name_the_file_and_line() {
        let message = |text: &str| maintenance_directives("jobs/m.sql", text).unwrap_err().to_string();
        assert!(message("\n--! optimize").starts_with("jobs/m.sql:2: --! optimize needs a table"));
        assert!(message("--! vacuum a.b retain forever").contains("retain 'forever' is not a number of hours"));
        assert!(message("--! optimize a.b order by x").contains("unexpected 'order by x' in --! optimize"));
        assert!(message("--! vacuum a.b retain 1 force").contains("unexpected 'retain 1 force'"));
    }
}
