//! The `--! after other.sql` directive: the job runs after each successful run of another job file, as an Airflow
//! task runs after the one it depends on.
//!
//! ```sql
//! --! after ingest.sql
//! ```
//!
//! The file is named relative to the job file's directory (quotes optional). A job may name several, one per line;
//! it then runs after each successful run of any of them. Like `--! schedule`, the directive is read from the text
//! alone; `strata schedule` resolves the names, refuses unknown files and cycles, and runs the chain.

use crate::error::{Result, SourceLocation, SqlError};

/// The directive's name.
pub(crate) const NAME: &str = "after";

/// One `--! after` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The job file it names, as written (relative to the naming file's directory).
    pub job: String,
    /// The directive's line (column 1).
    pub location: SourceLocation,
}

/// The `--! after` directives of the job file at `path`, in file order.
pub fn after_directives(path: &str, text: &str) -> Result<Vec<After>> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("--!") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        if words.next() != Some(NAME) {
            continue;
        }
        let location = SourceLocation {
            file: path.into(),
            line: n as u64 + 1,
            column: 1,
        };
        let job: Vec<&str> = words.collect();
        let job = match job.as_slice() {
            [one] => one.trim_matches('\''),
            _ => "",
        };
        if !job.ends_with(".sql") || job.len() <= ".sql".len() {
            return Err(SqlError::Directive {
                location,
                message: "a dependency is written --! after other_job.sql (one job file per line, relative to this \
                          file's directory)"
                    .into(),
            });
        }
        found.push(After {
            job: job.to_string(),
            location,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_read_with_their_lines() {
        let text = "-- store\n--! after ingest.sql\n--! after 'sub/clean.sql'\n--! optimize a.b\nSELECT 1";
        let found = after_directives("jobs/store.sql", text).unwrap();
        let got: Vec<(&str, u64)> = found.iter().map(|a| (a.job.as_str(), a.location.line)).collect();
        assert_eq!(got, [("ingest.sql", 2), ("sub/clean.sql", 3)]);
        for bad in ["--! after", "--! after ingest", "--! after a.sql b.sql"] {
            let err = after_directives("j.sql", &format!("SELECT 1;\n{bad}"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("j.sql:2:"), "{err}");
            assert!(err.contains("--! after other_job.sql"), "{err}");
        }
    }
}
