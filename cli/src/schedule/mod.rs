//! The cron runner behind `strata schedule`: runs the job files of a directory on the schedules they declare
//! (`--! schedule '0 0 * * *' retries 3 backoff 60s`, parsed with the job-file dialect in `strata_sql::job`).
//!
//! Each job runs one run at a time (a lock file under the warehouse's `_strata/schedule/` keeps a second runner
//! off it too, [`state`]). A due tick starts an incremental run; when several ticks were missed (the runner was
//! down), one backfill covers the whole missed span. A failed run is retried with doubling backoff; every
//! attempt is in the run ledger. A job seen for the first time starts from its latest tick: history is not
//! replayed. Jobs with `--! after other.sql` run after each successful run of the jobs they name ([`chain`]).
//! What happens is told as [`Note`]s, which the command prints.

pub mod chain;
pub mod state;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use state::JobState;
use strata_planner::{Engine, Params, PlannerError, RunMode, RunSummary, StrataOptions};
use strata_sql::job::{Schedule, schedule_directive};

use crate::error::CliError;

/// A job file with a schedule, and where its state lives.
#[derive(Debug, Clone)]
pub struct ScheduledJob {
    /// The job file.
    pub path: PathBuf,
    /// Its `--! schedule` directive: cron expression, retries and backoff.
    pub schedule: Schedule,
    /// Its last tick done and its lock, under `<warehouse>/_strata/schedule/`.
    pub state: JobState,
}

pub(crate) fn job_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // Hidden entries are skipped: a Kubernetes ConfigMap volume holds each file twice, once in its hidden
        // `..data/` (and `..<timestamp>/`) directory and once as a symlink into it; the symlink is followed.
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            job_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// The `.sql` files under `jobs` (recursively) that declare a schedule, in path order, with their state under
/// `<warehouse>/_strata/schedule/`. Files without a schedule are skipped; a malformed one is an error naming its
/// file and line. Only the directive is read: a job's statements are parsed when it runs.
pub fn load_jobs(jobs: &Path, warehouse: &Path) -> Result<Vec<ScheduledJob>, CliError> {
    load_jobs_in(jobs, &warehouse.join("_strata").join("schedule"))
}

/// [`load_jobs`], with the schedule's state in the directory `state` (a warehouse on an object store keeps
/// none: the state then lives on a local or mounted volume).
pub fn load_jobs_in(jobs: &Path, state: &Path) -> Result<Vec<ScheduledJob>, CliError> {
    let mut files = Vec::new();
    job_files(jobs, &mut files).map_err(CliError::io(jobs))?;
    files.sort();
    let dir = state.to_path_buf();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(CliError::io(&path))?;
        let Some(schedule) = schedule_directive(&path.to_string_lossy(), &text)? else {
            tracing::info!(job = %path.display(), "no schedule: skipped");
            continue;
        };
        let name = path
            .strip_prefix(jobs)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        out.push(ScheduledJob {
            state: JobState::new(&dir, &name),
            path,
            schedule,
        });
    }
    Ok(out)
}

/// What is due for `job` at `now`: nothing, a normal run, or a backfill over missed ticks.
pub fn due(job: &ScheduledJob, now: DateTime<Utc>) -> Option<(DateTime<Utc>, RunMode)> {
    let last = job.state.last_tick()?;
    let ticks = job.schedule.cron.ticks(last, now);
    let latest = *ticks.last()?;
    if ticks.len() == 1 {
        return Some((latest, RunMode::Incremental));
    }
    Some((
        latest,
        RunMode::Backfill {
            from: last.timestamp_micros(),
            to: latest.timestamp_micros(),
        },
    ))
}

/// Something the runner did that its user should hear about.
#[derive(Debug, Clone)]
pub enum Note {
    /// A job seen for the first time, and its next tick.
    Scheduled {
        /// The job file.
        job: PathBuf,
        /// Its cron expression, as written.
        cron: String,
        /// Its next tick after now; none if there is none within four years.
        next: Option<DateTime<Utc>>,
    },
    /// A due run was not started: another one of the job holds its lock.
    Busy {
        /// The job file.
        job: PathBuf,
    },
    /// A run of a due tick succeeded.
    Succeeded {
        /// The job file.
        job: PathBuf,
        /// The run's mode: `incremental`, or `backfill` after missed ticks.
        mode: String,
        /// The run's id in the ledger.
        run_id: String,
        /// The tick it ran for.
        tick: DateTime<Utc>,
    },
    /// A job that runs after another succeeded after a successful run of it.
    Followed {
        /// The job file.
        job: PathBuf,
        /// The job it followed.
        upstream: PathBuf,
        /// That job's run.
        upstream_run: String,
        /// The run's id in the ledger.
        run_id: String,
    },
    /// One attempt (counted from 1) failed.
    AttemptFailed {
        /// The job file.
        job: PathBuf,
        /// The attempt's number, from 1.
        attempt: u32,
        /// Why it failed.
        error: String,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Scheduled { job, cron, next } => write!(
                f,
                "{}: scheduled '{cron}', next run {}",
                job.display(),
                next.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
            Note::Busy { job } => write!(f, "{}: a run is already in progress; skipped", job.display()),
            Note::Succeeded {
                job,
                mode,
                run_id,
                tick,
            } => write!(
                f,
                "{}: {mode} run {run_id} for {} succeeded",
                job.display(),
                tick.to_rfc3339()
            ),
            Note::Followed {
                job,
                upstream,
                upstream_run,
                run_id,
            } => write!(
                f,
                "{}: run {run_id} after {} run {upstream_run} succeeded",
                job.display(),
                upstream.display()
            ),
            Note::AttemptFailed { job, attempt, error } => {
                write!(f, "{}: attempt {attempt} failed: {error}", job.display())
            }
        }
    }
}

/// Where notes go.
pub type Notes = Arc<dyn Fn(Note) + Send + Sync>;

/// Runs scheduled jobs with one set of engine options on one engine.
pub struct Runner {
    options: StrataOptions,
    engine: Engine,
    notes: Notes,
    /// Jobs that run after others ([`chain`]).
    dependents: Vec<chain::Dependent>,
}

impl Runner {
    /// A runner that plans every run with `options`, runs it on `engine`, and tells `notes` what happens.
    pub fn new(options: StrataOptions, engine: Engine, notes: Notes) -> Self {
        Self {
            options,
            engine,
            notes,
            dependents: Vec::new(),
        }
    }

    /// The runner, running `dependents` after the jobs they follow.
    pub fn with_dependents(mut self, dependents: Vec<chain::Dependent>) -> Self {
        self.dependents = dependents;
        self
    }

    /// Start every job seen for the first time from its latest tick at `now`.
    pub fn start(&self, jobs: &[ScheduledJob], now: DateTime<Utc>) -> Result<(), CliError> {
        for job in jobs {
            let cron = &job.schedule.cron;
            if let Some(next) = cron.next_after(now)
                && let Some(after) = cron.next_after(next)
            {
                strata_planner::metrics::schedule_interval(&job.path.to_string_lossy(), (after - next).num_seconds());
            }
            if job.state.last_tick().is_none()
                && let Some(tick) = job.schedule.cron.last_at_or_before(now)
            {
                job.state.save_tick(tick)?;
                (self.notes)(Note::Scheduled {
                    job: job.path.clone(),
                    cron: job.schedule.cron.text().to_string(),
                    next: job.schedule.cron.next_after(now),
                });
            }
        }
        Ok(())
    }

    /// Run one due tick of `job`, retrying with doubling backoff, then the jobs that follow it (still holding its
    /// lock). Returns false when every attempt failed, or a job of its chain failed every attempt.
    pub async fn run_due(&self, job: &ScheduledJob, tick: DateTime<Utc>, mode: RunMode) -> Result<bool, CliError> {
        let Some(_lock) = job.state.lock()? else {
            (self.notes)(Note::Busy { job: job.path.clone() });
            // Not a failure: the tick stays due for when the running one ends.
            return Ok(true);
        };
        let schedule = &job.schedule;
        let summary = self
            .attempts(&job.path, mode, None, schedule.retries, schedule.backoff)
            .await;
        // The tick is done either way: the next tick's incremental run picks up from the last successful watermark.
        job.state.save_tick(tick)?;
        let Some(summary) = summary else {
            return Ok(false);
        };
        strata_planner::metrics::schedule_succeeded(&summary.job);
        (self.notes)(Note::Succeeded {
            job: job.path.clone(),
            mode: summary.mode,
            run_id: summary.run_id.clone(),
            tick,
        });
        Ok(self.run_dependents(&job.path, &summary.run_id).await? == 0)
    }

    /// Run the job file at `path` until an attempt succeeds (at most `1 + retries`, the waits doubling from
    /// `backoff`); every failed attempt is told.
    async fn attempts(
        &self,
        path: &Path,
        mode: RunMode,
        trigger: Option<String>,
        retries: u32,
        backoff: Duration,
    ) -> Option<RunSummary> {
        let mut wait = backoff;
        for attempt in 0..=retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            match self.attempt(path, mode, trigger.clone()).await {
                Ok(summary) => return Some(summary),
                Err(e) => {
                    tracing::warn!(job = %path.display(), attempt, error = %e, "scheduled run failed");
                    (self.notes)(Note::AttemptFailed {
                        job: path.to_path_buf(),
                        attempt: attempt + 1,
                        error: e.to_string(),
                    });
                }
            }
        }
        None
    }

    async fn attempt(&self, path: &Path, mode: RunMode, trigger: Option<String>) -> Result<RunSummary, CliError> {
        let file = strata_sql::JobFile::load(&path.to_string_lossy()).map_err(PlannerError::from)?;
        let mut planned = strata_planner::plan_job_with(
            file,
            self.options.clone(),
            &Params::default(),
            self.engine.clone(),
            mode,
        )
        .await?;
        planned.trigger = trigger;
        Ok(strata_planner::run(planned, None).await?)
    }

    /// Run what is due at `now`, once; returns how many due runs failed every attempt.
    pub async fn once(&self, jobs: &[ScheduledJob], now: DateTime<Utc>) -> Result<usize, CliError> {
        let mut failed = 0;
        for job in jobs {
            if let Some((tick, mode)) = due(job, now) {
                failed += usize::from(!self.run_due(job, tick, mode).await?);
            }
        }
        Ok(failed)
    }

    /// Run every job on its own schedule until the process is stopped: one run at a time per job, jobs
    /// independent of each other.
    pub async fn forever(self: Arc<Self>, jobs: Vec<ScheduledJob>) {
        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let runner = self.clone();
            tasks.spawn(async move {
                loop {
                    let now = Utc::now();
                    if let Some((tick, mode)) = due(&job, now) {
                        if let Err(e) = runner.run_due(&job, tick, mode).await {
                            tracing::error!(job = %job.path.display(), error = %e, "scheduling failed");
                        }
                        // A tick still due after its turn (another process holds the job's lock, or its state could
                        // not be saved) is tried again after a pause, not in a busy loop.
                        if due(&job, Utc::now()).is_some_and(|(again, _)| again == tick) {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        continue;
                    }
                    let next = job
                        .schedule
                        .cron
                        .next_after(now)
                        .unwrap_or(now + chrono::Duration::hours(1));
                    let wait = (next - now).to_std().unwrap_or(Duration::from_secs(1));
                    tokio::time::sleep(wait.min(Duration::from_secs(60))).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A daily job in a temporary directory (kept alive by the first value), and a runner that records its notes.
    fn daily_job() -> (
        tempfile::TempDir,
        ScheduledJob,
        Runner,
        Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let jobs = dir.path().join("jobs");
        std::fs::create_dir_all(&jobs).unwrap();
        std::fs::write(jobs.join("daily.sql"), "--! schedule '0 0 * * *'\n").unwrap();
        let job = load_jobs(&jobs, dir.path()).unwrap().remove(0);
        let notes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = notes.clone();
        let runner = Runner::new(
            StrataOptions::default(),
            Engine::Embedded,
            Arc::new(move |n: Note| seen.lock().unwrap().push(n.to_string())),
        );
        (dir, job, runner, notes)
    }

    #[test]
    fn jobs_with_a_schedule_are_found_and_others_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = dir.path().join("jobs");
        std::fs::create_dir_all(jobs.join("nested")).unwrap();
        std::fs::write(
            jobs.join("a.sql"),
            "--! schedule '0 0 * * *'\nCREATE TABLE a.b AS SELECT 1 AS x;",
        )
        .unwrap();
        std::fs::write(jobs.join("nested/b.sql"), "--! schedule '@hourly' retries 0").unwrap();
        // Not parsed: only its (missing) directive matters.
        std::fs::write(jobs.join("plain.sql"), "not SQL at all").unwrap();
        std::fs::write(jobs.join("notes.txt"), "--! schedule 'nonsense'").unwrap();
        let found = load_jobs(&jobs, &dir.path().join("wh")).unwrap();
        let names: Vec<String> = found
            .iter()
            .map(|j| j.state.lock_file().display().to_string())
            .collect();
        assert_eq!(found.len(), 2, "{names:?}");
        assert!(names[0].ends_with("wh/_strata/schedule/a.lock"), "{names:?}");
        assert!(names[1].ends_with("wh/_strata/schedule/nested__b.lock"), "{names:?}");
        assert_eq!(found[1].schedule.retries, 0);

        std::fs::write(jobs.join("bad.sql"), "-- a job\n--! schedule '0 0 * *'\n").unwrap();
        let err = load_jobs(&jobs, &dir.path().join("wh")).unwrap_err().to_string();
        assert!(err.contains("bad.sql:2: '0 0 * *' is not a cron expression"), "{err}");
    }

    #[test]
    fn one_missed_tick_is_a_run_and_several_a_backfill() {
        let (_dir, job, runner, notes) = daily_job();
        // Never started: nothing is due, and the first start announces the next tick.
        assert!(due(&job, at("2026-01-01T12:00:00Z")).is_none());
        runner
            .start(std::slice::from_ref(&job), at("2026-01-01T12:00:00Z"))
            .unwrap();
        assert_eq!(
            notes.lock().unwrap().as_slice(),
            [format!(
                "{}: scheduled '0 0 * * *', next run 2026-01-02T00:00:00+00:00",
                job.path.display()
            )]
        );
        assert!(due(&job, at("2026-01-01T23:59:00Z")).is_none());
        assert_eq!(
            due(&job, at("2026-01-02T00:00:05Z")),
            Some((at("2026-01-02T00:00:00Z"), RunMode::Incremental))
        );
        assert_eq!(
            due(&job, at("2026-01-05T00:00:05Z")),
            Some((
                at("2026-01-05T00:00:00Z"),
                RunMode::Backfill {
                    from: at("2026-01-01T00:00:00Z").timestamp_micros(),
                    to: at("2026-01-05T00:00:00Z").timestamp_micros(),
                }
            ))
        );
    }

    #[tokio::test]
    async fn a_job_whose_lock_is_held_is_skipped_and_stays_due() {
        let (_dir, job, runner, notes) = daily_job();
        let _held = job.state.lock().unwrap().unwrap();
        let tick = at("2026-01-02T00:00:00Z");
        assert!(runner.run_due(&job, tick, RunMode::Incremental).await.unwrap());
        assert!(notes.lock().unwrap()[0].ends_with("daily.sql: a run is already in progress; skipped"));
        assert_eq!(job.state.last_tick(), None, "a skipped tick is not done");
    }
}
