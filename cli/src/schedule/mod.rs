//! `strata schedule JOBS_DIR`: runs every job file of a directory on the cron schedule it declares.
//!
//! A job file declares its schedule on a directive line (a comment to every other SQL tool):
//!
//! ```sql
//! --! schedule '0 0 * * *' retries 3 backoff 60s
//! ```
//!
//! Each job runs one run at a time (a lock file under the warehouse's `_strata/schedule/` keeps a second scheduler
//! off it too). A due tick starts an incremental run; when several ticks were missed (the scheduler was down), one
//! backfill covers the whole missed span. A failed run is retried with doubling backoff; every attempt is in the run
//! ledger.

pub mod cron;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use cron::Cron;
use strata_planner::{Engine, Params, RunMode};

use crate::commands::CliError;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Directory of job files (searched recursively); files without a `--! schedule` line are skipped.
    pub jobs: PathBuf,
    #[command(flatten)]
    pub places: crate::commands::PlaceArgs,
    /// Run the stages on a Strata cluster (its scheduler's `HOST:PORT`) instead of the embedded engine; this
    /// process plans and commits, as `strata run --cluster` does.
    #[arg(long, value_name = "HOST:PORT")]
    pub cluster: Option<String>,
    /// Run what is due once and exit, instead of running until stopped.
    #[arg(long)]
    pub once: bool,
    /// Act as if it were this time (RFC 3339): for replaying a schedule and for tests. Only with --once.
    #[arg(long, requires = "once")]
    pub now: Option<String>,
}

/// A job's `--! schedule` directive.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: Cron,
    pub retries: u32,
    pub backoff: Duration,
}

/// The schedule a job file declares, if any; a malformed directive is an error naming the file and line.
pub fn directive(path: &Path, text: &str) -> Result<Option<Schedule>, CliError> {
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("--!") else {
            continue;
        };
        let err = |m: String| CliError::Usage(format!("{}:{}: {m}", path.display(), n + 1));
        let rest = rest.trim();
        let Some(rest) = rest.strip_prefix("schedule") else {
            return Err(err(format!("unknown directive '--! {rest}'")));
        };
        let rest = rest.trim_start();
        let (cron, tail) = match rest.strip_prefix('\'').and_then(|r| r.split_once('\'')) {
            Some((cron, tail)) => (cron, tail),
            None => {
                return Err(err(
                    "a schedule is written --! schedule 'cron expression' [retries N] [backoff 30s]".into(),
                ));
            }
        };
        let cron = Cron::parse(cron).map_err(err)?;
        let mut schedule = Schedule {
            cron,
            retries: 2,
            backoff: Duration::from_secs(60),
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

fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    Some(Duration::from_secs(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    }))
}

/// A scheduled job and where its state lives.
struct Job {
    path: PathBuf,
    schedule: Schedule,
    /// `_strata/schedule/<name>.json` (last tick done) and `.lock` (a run in progress).
    state: PathBuf,
}

fn job_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            job_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

fn load_jobs(args: &ScheduleArgs) -> Result<Vec<Job>, CliError> {
    let mut files = Vec::new();
    job_files(&args.jobs, &mut files).map_err(|e| CliError::Usage(format!("{}: {e}", args.jobs.display())))?;
    files.sort();
    let dir = Path::new(&args.places.warehouse).join("_strata").join("schedule");
    let mut jobs = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
        let Some(schedule) = directive(&path, &text)? else {
            tracing::info!(job = %path.display(), "no schedule: skipped");
            continue;
        };
        let name = path
            .strip_prefix(&args.jobs)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace(['/', '\\'], "__");
        jobs.push(Job {
            path,
            schedule,
            state: dir.join(name),
        });
    }
    Ok(jobs)
}

fn last_tick(job: &Job) -> Option<DateTime<Utc>> {
    let text = std::fs::read_to_string(job.state.with_extension("json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    DateTime::parse_from_rfc3339(value["last_tick"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn save_tick(job: &Job, tick: DateTime<Utc>) -> Result<(), CliError> {
    let path = job.state.with_extension("json");
    let io = |e: std::io::Error| CliError::Usage(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::json!({ "last_tick": tick.to_rfc3339() }).to_string()).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// Holds a job's lock file while it runs.
struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Take the job's lock, unless a live process holds it. A lock left by a dead process is taken over.
fn lock(job: &Job) -> Result<Option<Lock>, CliError> {
    let path = job.state.with_extension("lock");
    let io = |e: std::io::Error| CliError::Usage(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    for _ in 0..2 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                use std::io::Write;
                write!(file, "{}", std::process::id()).map_err(io)?;
                return Ok(Some(Lock(path)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder: Option<u32> = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse().ok());
                if holder.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()) {
                    return Ok(None);
                }
                let _ = std::fs::remove_file(&path);
            }
            Err(e) => return Err(io(e)),
        }
    }
    Ok(None)
}

/// What is due for `job` at `now`: nothing, a normal run, or a backfill over missed ticks.
fn due(job: &Job, now: DateTime<Utc>) -> Option<(DateTime<Utc>, RunMode)> {
    let last = last_tick(job)?;
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

/// Run one due tick of `job`, retrying with doubling backoff. Returns false when every attempt failed.
async fn run_due(job: &Job, args: &ScheduleArgs, tick: DateTime<Utc>, mode: RunMode) -> Result<bool, CliError> {
    let Some(_lock) = lock(job)? else {
        println!("{}: a run is already in progress; skipped", job.path.display());
        // Not a failure: the tick stays due for when the running one ends.
        return Ok(true);
    };
    let engine = match &args.cluster {
        Some(scheduler) => Engine::Cluster {
            scheduler: scheduler.clone(),
        },
        None => Engine::Embedded,
    };
    let mut wait = job.schedule.backoff;
    let mut ok = false;
    for attempt in 0..=job.schedule.retries {
        if attempt > 0 {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        let result = async {
            let job_file =
                strata_sql::JobFile::load(&job.path.to_string_lossy()).map_err(strata_planner::PlannerError::from)?;
            let options = args.places.options();
            let planned =
                strata_planner::plan_job_with(job_file, options, &Params::default(), engine.clone(), mode).await?;
            Ok::<_, CliError>(strata_planner::run(planned, None).await?)
        }
        .await;
        match result {
            Ok(summary) => {
                println!(
                    "{}: {} run {} for {} succeeded",
                    job.path.display(),
                    summary.mode,
                    summary.run_id,
                    tick.to_rfc3339()
                );
                ok = true;
                break;
            }
            Err(e) => {
                tracing::warn!(job = %job.path.display(), attempt, error = %e, "scheduled run failed");
                println!("{}: attempt {} failed: {e}", job.path.display(), attempt + 1);
            }
        }
    }
    // The tick is done either way: the next tick's incremental run picks up from the last successful watermark.
    save_tick(job, tick)?;
    Ok(ok)
}

pub async fn schedule(args: ScheduleArgs) -> Result<(), CliError> {
    let jobs = load_jobs(&args)?;
    if jobs.is_empty() {
        return Err(CliError::Usage(format!(
            "no job in {} declares a schedule (--! schedule '0 0 * * *')",
            args.jobs.display()
        )));
    }
    let start = match &args.now {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| CliError::Usage(format!("--now {t}: {e}")))?,
        None => Utc::now(),
    };
    // A job seen for the first time starts from its latest tick: history is not replayed on first start.
    for job in &jobs {
        if last_tick(job).is_none()
            && let Some(tick) = job.schedule.cron.last_at_or_before(start)
        {
            save_tick(job, tick)?;
            println!(
                "{}: scheduled '{}', next run {}",
                job.path.display(),
                job.schedule.cron.text(),
                job.schedule
                    .cron
                    .next_after(start)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            );
        }
    }
    if args.once {
        let mut failed = 0;
        for job in &jobs {
            if let Some((tick, mode)) = due(job, start) {
                failed += usize::from(!run_due(job, &args, tick, mode).await?);
            }
        }
        return if failed == 0 {
            Ok(())
        } else {
            Err(CliError::Usage(format!("{failed} scheduled run(s) failed")))
        };
    }
    // Each job on its own task: one run at a time per job, jobs independent of each other.
    let args = std::sync::Arc::new(args);
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let args = args.clone();
        tasks.spawn(async move {
            loop {
                let now = Utc::now();
                if let Some((tick, mode)) = due(&job, now) {
                    if let Err(e) = run_due(&job, &args, tick, mode).await {
                        tracing::error!(job = %job.path.display(), error = %e, "scheduling failed");
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
    Ok(())
}
