//! Job dependencies under `strata schedule`: a job file with `--! after other.sql` lines has no schedule of its
//! own; it runs after each successful run of any job it names, as the seed pipelines' Airflow DAGs chain ingestion,
//! processing and storage.
//!
//! A dependent runs while the run it follows still holds its job's lock, and takes its own lock too: it never runs
//! at the same time as the run it follows (whose job's next tick waits until the chain is done), nor twice at once.
//! Its dependents follow it the same way; a job that follows several runs after each of them. Every run of the chain is in the ledger, its mode saying what it followed
//! (`incremental after ingest.sql run <id>`).
//!
//! Names resolve relative to the naming file's directory and must be job files of the directory `strata schedule`
//! runs that run themselves (a schedule or dependencies of their own). An unknown name, a job with both a schedule
//! and dependencies, and a cycle are errors at `file:line`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, Instant};

use strata_planner::RunMode;
use strata_sql::job::{DEFAULT_BACKOFF, DEFAULT_RETRIES, after_directives, schedule_directive};
use strata_sql::{SourceLocation, SqlError};

use super::state::JobState;
use super::{Note, Runner, job_files};
use crate::error::CliError;

/// How long a dependent waits for its own lock (another chain running it) before its turn is skipped.
const LOCK_WAIT: Duration = Duration::from_secs(15 * 60);

/// A job that runs after others.
#[derive(Debug, Clone)]
pub struct Dependent {
    /// The job file.
    pub path: PathBuf,
    /// The job files it runs after, each with the directive line that names it.
    pub after: Vec<(PathBuf, SourceLocation)>,
    /// Its lock (and unused tick file), beside the scheduled jobs' state.
    pub state: JobState,
}

fn directive_err(location: &SourceLocation, message: String) -> CliError {
    CliError::from(SqlError::Directive {
        location: location.clone(),
        message,
    })
}

/// The job files under `jobs` with `--! after` lines, their dependencies resolved, with their state in `state`.
pub fn load_dependents_in(jobs: &Path, state: &Path) -> Result<Vec<Dependent>, CliError> {
    let mut files = Vec::new();
    job_files(jobs, &mut files).map_err(CliError::io(jobs))?;
    files.sort();
    // Every job that runs (on a schedule, or after another), by canonical path: what a directive may name.
    let mut known = BTreeMap::new();
    let mut texts = Vec::with_capacity(files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(CliError::io(f))?;
        let shown = f.to_string_lossy();
        if schedule_directive(&shown, &text)?.is_some() || !after_directives(&shown, &text)?.is_empty() {
            known.insert(std::fs::canonicalize(f).map_err(CliError::io(f))?, f.clone());
        }
        texts.push(text);
    }
    let mut out = Vec::new();
    for (path, text) in files.iter().zip(&texts) {
        let shown = path.to_string_lossy();
        let afters = after_directives(&shown, text)?;
        let Some(first) = afters.first() else {
            continue;
        };
        if schedule_directive(&shown, text)?.is_some() {
            return Err(directive_err(
                &first.location,
                "a job runs on its --! schedule or after other jobs (--! after), not both".into(),
            ));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut after = Vec::new();
        for a in &afters {
            let target = std::fs::canonicalize(dir.join(&a.job))
                .ok()
                .and_then(|c| known.get(&c).cloned())
                .ok_or_else(|| {
                    directive_err(
                        &a.location,
                        format!(
                            "after {}: no job file under {} with a --! schedule or --! after of its own",
                            a.job,
                            jobs.display()
                        ),
                    )
                })?;
            after.push((target, a.location.clone()));
        }
        let name = path
            .strip_prefix(jobs)
            .unwrap_or(path)
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        out.push(Dependent {
            path: path.clone(),
            after,
            state: JobState::new(state, &name),
        });
    }
    check_cycles(&out)?;
    Ok(out)
}

/// A dependency cycle never runs; report its first link.
fn check_cycles(dependents: &[Dependent]) -> Result<(), CliError> {
    let upstreams = |p: &Path| -> Vec<&(PathBuf, SourceLocation)> {
        dependents
            .iter()
            .filter(|d| d.path == p)
            .flat_map(|d| d.after.iter())
            .collect()
    };
    for d in dependents {
        // Walk up from d; reaching d again is a cycle.
        let mut todo: Vec<&(PathBuf, SourceLocation)> = d.after.iter().collect();
        let mut seen = Vec::new();
        while let Some((up, _)) = todo.pop() {
            if *up == d.path {
                let (_, location) = &d.after[0];
                return Err(directive_err(
                    location,
                    format!("{} depends on itself through --! after", d.path.display()),
                ));
            }
            if !seen.contains(up) {
                seen.push(up.clone());
                todo.extend(upstreams(up));
            }
        }
    }
    Ok(())
}

impl Runner {
    /// After a successful run `run_id` of `upstream` (whose lock the caller holds): run each job that follows it,
    /// then theirs. A dependent that fails every attempt is reported; its own dependents do not run.
    pub(super) fn run_dependents<'a>(
        &'a self,
        upstream: &'a Path,
        run_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<usize, CliError>> + Send + 'a>> {
        Box::pin(async move {
            let mut failed = 0;
            for d in self
                .dependents
                .iter()
                .filter(|d| d.after.iter().any(|(p, _)| p == upstream))
            {
                let started = Instant::now();
                let _lock = loop {
                    if let Some(lock) = d.state.lock()? {
                        break Some(lock);
                    }
                    if started.elapsed() > LOCK_WAIT {
                        break None;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                };
                if _lock.is_none() {
                    (self.notes)(Note::Busy { job: d.path.clone() });
                    continue;
                }
                let name = upstream.file_name().unwrap_or_default().to_string_lossy();
                let trigger = format!("after {name} run {run_id}");
                let summary = self
                    .attempts(
                        &d.path,
                        RunMode::Incremental,
                        Some(trigger),
                        DEFAULT_RETRIES,
                        DEFAULT_BACKOFF,
                    )
                    .await;
                match summary {
                    Some(summary) => {
                        strata_planner::metrics::schedule_succeeded(&summary.job);
                        (self.notes)(Note::Followed {
                            job: d.path.clone(),
                            upstream: upstream.to_path_buf(),
                            upstream_run: run_id.to_string(),
                            run_id: summary.run_id.clone(),
                        });
                        failed += self.run_dependents(&d.path, &summary.run_id).await?;
                    }
                    None => failed += 1,
                }
            }
            Ok(failed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn dependencies_resolve_and_bad_ones_are_refused_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = dir.path().join("jobs");
        write(&jobs, "ingest.sql", "--! schedule '* * * * *'\n");
        write(&jobs, "store.sql", "-- store\n--! after ingest.sql\n");
        write(&jobs, "sub/report.sql", "--! after ../store.sql\n");
        let found = load_dependents_in(&jobs, &dir.path().join("state")).unwrap();
        let got: Vec<(String, String)> = found
            .iter()
            .map(|d| {
                (
                    d.path.file_name().unwrap().to_string_lossy().into_owned(),
                    d.after[0].0.file_name().unwrap().to_string_lossy().into_owned(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("store.sql".into(), "ingest.sql".into()),
                ("report.sql".into(), "store.sql".into())
            ]
        );

        let err = |name: &str, text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let jobs = dir.path().join("jobs");
            write(&jobs, "ingest.sql", "--! schedule '* * * * *'\n");
            write(&jobs, name, text);
            load_dependents_in(&jobs, &dir.path().join("state"))
                .unwrap_err()
                .to_string()
        };
        let e = err("store.sql", "SELECT 1;\n--! after missing.sql\n");
        assert!(e.contains("store.sql:2: after missing.sql: no job file under"), "{e}");
        // A job file that never runs is no upstream either.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "plain.sql", "SELECT 1;\n");
        write(dir.path(), "store.sql", "--! after plain.sql\n");
        let e = load_dependents_in(dir.path(), &dir.path().join("state"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("store.sql:1: after plain.sql: no job file"), "{e}");
        let e = err("store.sql", "--! schedule '@hourly'\n--! after ingest.sql\n");
        assert!(
            e.contains("store.sql:2: a job runs on its --! schedule or after"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.sql", "--! after b.sql\n");
        write(dir.path(), "b.sql", "\n--! after a.sql\n");
        let e = load_dependents_in(dir.path(), &dir.path().join("state"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.sql:1:") && e.contains("depends on itself"), "{e}");
    }
}
