//! The `--! schedule` directive: a comment line to every other SQL tool, Strata's word for when a job runs.
//!
//! ```sql
//! --! schedule '0 0 * * *' retries 3 backoff 5m
//! ```
//!
//! A `--!` line is a directive: `schedule`, or the maintenance ones (`optimize`, `vacuum`: see `maintenance.rs`).
//! The first `schedule` of a file counts; a malformed one (or an unknown directive before it) is an error naming
//! the file and the line. Reading the directive needs only the
//! text, not a parse of the statements, so `strata schedule` can find the scheduled jobs of a directory even when
//! some other file in it does not parse.

use std::time::Duration;

use super::cron::Cron;
use crate::error::{Result, SourceLocation, SqlError};

/// How often a failed scheduled run is retried when the directive does not say.
pub const DEFAULT_RETRIES: u32 = 2;

/// How long before the first retry when the directive does not say (each next retry waits twice as long).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(60);

/// A job's `--! schedule` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// When runs start: the directive's quoted 5-field cron expression (UTC).
    pub cron: Cron,
    /// Retries after a failed run, at most.
    pub retries: u32,
    /// The wait before the first retry.
    pub backoff: Duration,
    /// The directive's line (column 1).
    pub location: SourceLocation,
}

/// The schedule the job file at `path` declares in `text`, if any.
pub fn schedule_directive(path: &str, text: &str) -> Result<Option<Schedule>> {
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("--!") else {
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
        let rest = rest.trim();
        let first = rest.split_whitespace().next().unwrap_or_default();
        if super::maintenance::NAMES.contains(&first) || first == super::after::NAME {
            continue;
        }
        let Some(rest) = rest.strip_prefix("schedule") else {
            return Err(err(format!("unknown directive '--! {rest}'")));
        };
        let (cron, tail) = match rest.trim_start().strip_prefix('\'').and_then(|r| r.split_once('\'')) {
            Some((cron, tail)) => (cron, tail),
            None => {
                return Err(err(
                    "a schedule is written --! schedule 'cron expression' [retries N] [backoff 30s]".into(),
                ));
            }
        };
        let mut schedule = Schedule {
            cron: Cron::parse(cron).map_err(err)?,
            retries: DEFAULT_RETRIES,
            backoff: DEFAULT_BACKOFF,
            location: location.clone(),
        };
        let words: Vec<&str> = tail.split_whitespace().collect();
        for pair in words.chunks(2) {
            match pair {
                ["retries", n] => {
                    schedule.retries = n.parse().map_err(|_| err(format!("retries '{n}' is not a number")))?
                }
                ["backoff", d] => {
                    schedule.backoff = parse_duration(d)
                        .ok_or_else(|| err(format!("backoff '{d}' is not a duration such as 30s, 5m or 1h")))?
                }
                other => return Err(err(format!("unexpected '{}' in the schedule", other.join(" ")))),
            }
        }
        return Ok(Some(schedule));
    }
    Ok(None)
}

/// `30s`, `5m` or `1h`.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    Some(Duration::from_secs(match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directive_gives_the_cron_retries_and_backoff() {
        let text = "-- nightly\n--! schedule '0 0 * * *' retries 3 backoff 5m\nCREATE TABLE a.b AS SELECT 1 AS x;";
        let schedule = schedule_directive("j.sql", text).unwrap().unwrap();
        assert_eq!(schedule.cron.text(), "0 0 * * *");
        assert_eq!((schedule.retries, schedule.backoff), (3, Duration::from_secs(300)));
        assert_eq!((&*schedule.location.file, schedule.location.line), ("j.sql", 2));
        let defaults = schedule_directive("j.sql", "--! schedule '@hourly'").unwrap().unwrap();
        assert_eq!((defaults.retries, defaults.backoff), (DEFAULT_RETRIES, DEFAULT_BACKOFF));
        assert_eq!(
            schedule_directive("j.sql", "-- --! not a directive\nSELECT 1").unwrap(),
            None
        );
    }

    #[test]
    fn malformed_directives_name_the_file_and_line() {
        let message = |text: &str| schedule_directive("jobs/bad.sql", text).unwrap_err().to_string();
        assert_eq!(
            message("-- a job\n--! schedule '0 0 * *'"),
            "jobs/bad.sql:2: '0 0 * *' is not a cron expression: five fields (minute hour day month weekday) expected"
        );
        assert_eq!(
            message("--! every day"),
            "jobs/bad.sql:1: unknown directive '--! every day'"
        );
        assert!(message("--! schedule 0 0 * * *").contains("is written --! schedule 'cron expression'"));
        assert!(message("--! schedule '0 0 * * *' retries many").contains("retries 'many' is not a number"));
        assert!(message("--! schedule '0 0 * * *' backoff 5d").contains("backoff '5d' is not a duration"));
        assert!(message("--! schedule '0 0 * * *' every 2").contains("unexpected 'every 2'"));
        let err = schedule_directive("j.sql", "\n\n--! schedule '61 0 * * *'").unwrap_err();
        assert_eq!(err.location().map(|l| l.line), Some(3));
    }
}
