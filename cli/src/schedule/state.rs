//! What the cron runner keeps per job under the warehouse's `_strata/schedule/`: `<name>.json`, the last tick
//! done, and `<name>.lock`, held (with the holder's pid) while a run of the job is in progress. A lock whose
//! process is gone is taken over, so a killed scheduler does not block its jobs forever. So is a lock naming this
//! very process that it does not hold: in a container the runner is always PID 1, and a runner killed there
//! leaves a lock its restarted successor would otherwise take for its own forever.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::error::CliError;

/// A job's state files: `<base>.json` and `<base>.lock`.
#[derive(Debug, Clone)]
pub struct JobState {
    base: PathBuf,
}

impl JobState {
    /// The state of the job named `name` (its path under the jobs directory, flattened) in `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        Self { base: dir.join(name) }
    }

    fn tick_file(&self) -> PathBuf {
        self.base.with_extension("json")
    }

    /// The lock file a run of the job holds.
    pub fn lock_file(&self) -> PathBuf {
        self.base.with_extension("lock")
    }

    /// The last tick done; none before the job's first start (or when the file is unreadable).
    pub fn last_tick(&self) -> Option<DateTime<Utc>> {
        let text = std::fs::read_to_string(self.tick_file()).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        DateTime::parse_from_rfc3339(value["last_tick"].as_str()?)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Record `tick` as done; the file is replaced whole, never left half-written.
    pub fn save_tick(&self, tick: DateTime<Utc>) -> Result<(), CliError> {
        let path = self.tick_file();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(CliError::io(&path))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::json!({ "last_tick": tick.to_rfc3339() }).to_string())
            .map_err(CliError::io(&path))?;
        std::fs::rename(&tmp, &path).map_err(CliError::io(&path))
    }

    /// Take the job's lock, unless a live process holds it.
    pub fn lock(&self) -> Result<Option<Lock>, CliError> {
        let path = self.lock_file();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(CliError::io(&path))?;
        }
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    use std::io::Write;
                    write!(file, "{}", std::process::id()).map_err(CliError::io(&path))?;
                    if let Ok(mut held) = HELD.lock() {
                        held.push(path.clone());
                    }
                    return Ok(Some(Lock(path)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder: Option<u32> = std::fs::read_to_string(&path).ok().and_then(|p| p.trim().parse().ok());
                    let ours = holder == Some(std::process::id());
                    let held_here = HELD.lock().map(|held| held.contains(&path)).unwrap_or(true);
                    let alive = holder.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                    if (ours && held_here) || (!ours && alive) {
                        return Ok(None);
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(CliError::io(&path)(e)),
            }
        }
        Ok(None)
    }
}

/// The lock files this process holds.
static HELD: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Holds a job's lock file while it runs; dropping it releases the lock.
#[derive(Debug)]
pub struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        if let Ok(mut held) = HELD.lock() {
            held.retain(|p| p != &self.0);
        }
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_kept_between_runs() {
        let dir = tempfile::tempdir().unwrap();
        let state = JobState::new(&dir.path().join("_strata/schedule"), "nightly.sql");
        assert_eq!(state.last_tick(), None);
        let tick = DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        state.save_tick(tick).unwrap();
        assert_eq!(state.last_tick(), Some(tick));
        assert!(dir.path().join("_strata/schedule/nightly.json").exists());
    }

    #[test]
    fn a_lock_naming_this_process_that_it_does_not_hold_is_taken_over() {
        // A runner restarted in a container has the pid of the one that left the lock.
        let dir = tempfile::tempdir().unwrap();
        let state = JobState::new(&dir.path().join("_strata/schedule"), "pid1.sql");
        std::fs::create_dir_all(state.lock_file().parent().unwrap()).unwrap();
        std::fs::write(state.lock_file(), std::process::id().to_string()).unwrap();
        let lock = state.lock().unwrap().expect("the stale lock is taken over");
        assert!(state.lock().unwrap().is_none(), "but a held one is not");
        drop(lock);
        assert!(state.lock().unwrap().is_some());
    }

    #[test]
    fn a_lock_is_held_once_and_taken_over_from_a_dead_process() {
        let dir = tempfile::tempdir().unwrap();
        let state = JobState::new(dir.path(), "job");
        let held = state.lock().unwrap().expect("the lock is free");
        assert!(state.lock().unwrap().is_none(), "a live holder keeps it");
        drop(held);
        assert!(!state.lock_file().exists());
        // A pid no process has: the lock was left by a dead scheduler.
        std::fs::write(state.lock_file(), "4000000").unwrap();
        let taken = state.lock().unwrap();
        assert!(taken.is_some());
        assert_eq!(
            std::fs::read_to_string(state.lock_file()).unwrap(),
            std::process::id().to_string()
        );
    }
}
