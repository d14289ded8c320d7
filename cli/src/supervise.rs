//! Process supervision for a local cluster: start a scheduler and executors as background processes (each in
//! its own process group, logging to a file), wait until the scheduler says where it listens and every executor
//! has registered, record them in a state file, and stop them again (TERM, then KILL after a grace period).
//!
//! A cluster is up exactly while its state file exists: `up` refuses to start a second one over it, and a
//! failed `up` stops what it started and leaves no state file.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use strata_proto::job::HealthRequest;

use crate::error::CliError;

/// What `cluster up` leaves for `cluster down` (and for scripts: the scheduler address and the pids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// The scheduler's address as it printed it, `HOST:PORT` on loopback.
    pub scheduler: String,
    /// The scheduler's process id.
    pub scheduler_pid: u32,
    /// The executors' process ids, in start order.
    pub executor_pids: Vec<u32>,
}

impl ClusterState {
    /// Every process of the cluster, executors first.
    pub fn pids(&self) -> Vec<u32> {
        self.executor_pids.iter().copied().chain([self.scheduler_pid]).collect()
    }
}

/// The state file of the cluster kept in `dir`.
pub fn state_file(dir: &Path) -> PathBuf {
    dir.join("cluster.json")
}

/// The state of the cluster that is up in `dir`.
pub fn read_state(dir: &Path) -> Result<ClusterState, CliError> {
    let path = state_file(dir);
    let text = std::fs::read_to_string(&path).map_err(|source| CliError::NoCluster {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| CliError::StateJson { path, source })
}

/// Record `state` as the cluster up in `dir`.
pub fn write_state(dir: &Path, state: &ClusterState) -> Result<(), CliError> {
    let path = state_file(dir);
    let json = serde_json::to_string_pretty(state).map_err(|source| CliError::StateJson {
        path: path.clone(),
        source,
    })?;
    std::fs::write(&path, json).map_err(|source| CliError::StateFile { path, source })
}

/// Forget the cluster of `dir`.
pub fn remove_state(dir: &Path) -> Result<(), CliError> {
    let path = state_file(dir);
    std::fs::remove_file(&path).map_err(|source| CliError::StateFile { path, source })
}

/// Start `program args` in the background with stdout and stderr to `<dir>/<name>.log`; returns its pid.
pub fn spawn(program: &Path, dir: &Path, name: &str, args: &[String], envs: &[(&str, &str)]) -> Result<u32, CliError> {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(CliError::io(dir))?;
    let err = log.try_clone().map_err(CliError::io(dir))?;
    let child = std::process::Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        // Its own process group: the cluster outlives the `up` command and a Ctrl-C in its terminal.
        .process_group(0)
        .spawn()
        .map_err(|source| CliError::Spawn {
            what: name.to_string(),
            source,
        })?;
    Ok(child.id())
}

/// The line a scheduler prints once it listens, followed by its address.
pub const LISTENING: &str = "Scheduler listening on ";

/// The address a scheduler's output says it listens on, once it has said so.
pub fn listening_address(output: &str) -> Option<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(LISTENING))
        .map(|addr| addr.trim().to_string())
}

/// The address a scheduler writing its output to `log` listens on, once it says so within `wait`.
pub async fn listening(log: &Path, wait: Duration) -> Option<String> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(addr) = std::fs::read_to_string(log).ok().as_deref().and_then(listening_address) {
            return Some(addr);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Send `sig` to `pid`; whether the process exists (signal 0 only checks).
pub fn signal(pid: u32, sig: i32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with a pid this module started (or 0 to probe); no memory is involved.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Stop `pids`: TERM, up to `grace` for them to exit, then KILL whatever is left.
pub fn stop(pids: &[u32], grace: Duration) {
    for &pid in pids {
        signal(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|&p| signal(p, 0)) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for &pid in pids {
        signal(pid, libc::SIGKILL);
    }
}

/// How long processes get to exit on TERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a cluster may take to come up.
const START_WAIT: Duration = Duration::from_secs(60);

/// A local cluster to start.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    /// Where its state file, logs and executor work directories go.
    pub dir: PathBuf,
    /// Number of executor processes.
    pub executors: usize,
    /// Scheduler port on loopback (0: any free port).
    pub port: u16,
    /// Task slots per executor (0: one per core).
    pub vcores: usize,
    /// The scheduler's default warehouse, absolute.
    pub warehouse: String,
    /// Where the scheduler records runs (empty: each warehouse's ledger).
    pub ledger: String,
    /// Kafka brokers for submitted jobs that name none (empty: the scheduler's environment decides).
    pub kafka_brokers: String,
}

impl LocalCluster {
    /// Start the scheduler and the executors with the `strata` binary at `program`, and wait until the scheduler
    /// answers and every executor has registered.
    pub async fn up(&self, program: &Path) -> Result<ClusterState, CliError> {
        let dir = &self.dir;
        if state_file(dir).exists() {
            return Err(CliError::AlreadyUp {
                path: state_file(dir),
                dir: dir.clone(),
            });
        }
        std::fs::create_dir_all(dir).map_err(CliError::io(dir))?;
        // Port 0: the scheduler binds a free port itself and says which (no window for another process to take it).
        let args: Vec<String> = vec![
            "--log".into(),
            "info".into(),
            "scheduler".into(),
            "--bind".into(),
            format!("127.0.0.1:{}", self.port),
            "--warehouse".into(),
            self.warehouse.clone(),
            "--ledger".into(),
            self.ledger.clone(),
        ];
        let brokers: Vec<(&str, &str)> = match self.kafka_brokers.as_str() {
            "" => Vec::new(),
            brokers => vec![("STRATA_KAFKA_BROKERS", brokers)],
        };
        let scheduler_pid = spawn(program, dir, "scheduler", &args, &brokers)?;
        let log = dir.join("scheduler.log");
        let Some(scheduler) = listening(&log, START_WAIT).await else {
            signal(scheduler_pid, libc::SIGKILL);
            return Err(CliError::SchedulerDidNotStart {
                log,
                seconds: START_WAIT.as_secs(),
            });
        };
        let mut state = ClusterState {
            scheduler: scheduler.clone(),
            scheduler_pid,
            executor_pids: Vec::new(),
        };
        for i in 0..self.executors {
            let name = format!("executor-{i}");
            let work = dir.join(&name);
            let args: Vec<String> = vec![
                "--log".into(),
                "info".into(),
                "executor".into(),
                "--scheduler".into(),
                scheduler.clone(),
                "--work-dir".into(),
                work.display().to_string(),
                "--vcores".into(),
                self.vcores.to_string(),
            ];
            match spawn(program, dir, &name, &args, &[]) {
                Ok(pid) => state.executor_pids.push(pid),
                Err(e) => {
                    stop(&state.pids(), STOP_GRACE);
                    return Err(e);
                }
            }
        }
        write_state(dir, &state)?;
        if !ready(&scheduler, self.executors, START_WAIT).await {
            stop(&state.pids(), STOP_GRACE);
            let _ = std::fs::remove_file(state_file(dir));
            return Err(CliError::ClusterDidNotStart {
                dir: dir.clone(),
                seconds: START_WAIT.as_secs(),
            });
        }
        Ok(state)
    }
}

/// Whether the scheduler at `addr` answers with at least `executors` alive within `wait`.
async fn ready(addr: &str, executors: usize, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(mut c) = crate::remote::connect(addr).await
            && let Ok(h) = c.health(HealthRequest {}).await
            && h.into_inner().alive_executors as usize >= executors
        {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stop the cluster up in `dir` and forget it; returns what was stopped.
pub fn down(dir: &Path) -> Result<ClusterState, CliError> {
    let state = read_state(dir)?;
    stop(&state.pids(), STOP_GRACE);
    remove_state(dir)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(dir: &Path) -> LocalCluster {
        LocalCluster {
            dir: dir.to_path_buf(),
            executors: 1,
            port: 0,
            vcores: 1,
            warehouse: "/wh".into(),
            ledger: String::new(),
            kafka_brokers: String::new(),
        }
    }

    #[test]
    fn the_state_file_says_which_cluster_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_state(dir.path()).unwrap_err();
        assert!(matches!(err, CliError::NoCluster { .. }));
        assert!(err.to_string().starts_with("no cluster is up here ("), "{err}");
        let state = ClusterState {
            scheduler: "127.0.0.1:50050".into(),
            scheduler_pid: 10,
            executor_pids: vec![11, 12],
        };
        write_state(dir.path(), &state).unwrap();
        assert_eq!(read_state(dir.path()).unwrap(), state);
        assert_eq!(state.pids(), [11, 12, 10]);
        remove_state(dir.path()).unwrap();
        assert!(!state_file(dir.path()).exists());
        std::fs::write(state_file(dir.path()), "not json").unwrap();
        assert!(matches!(read_state(dir.path()), Err(CliError::StateJson { .. })));
    }

    #[tokio::test]
    async fn a_second_cluster_is_refused_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(state_file(dir.path()), "{}").unwrap();
        let err = cluster(dir.path())
            .up(Path::new("/nonexistent/strata"))
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("a cluster is already up ("), "{err}");
        assert!(!dir.path().join("scheduler.log").exists());
    }

    #[tokio::test]
    async fn a_scheduler_that_cannot_start_leaves_no_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let err = cluster(dir.path())
            .up(Path::new("/nonexistent/strata"))
            .await
            .unwrap_err();
        assert!(matches!(err, CliError::Spawn { .. }), "{err}");
        assert!(err.to_string().starts_with("cannot start scheduler: "), "{err}");
        assert!(!state_file(dir.path()).exists());
    }

    #[tokio::test]
    async fn the_listening_address_is_read_from_the_log() {
        assert_eq!(
            listening_address("starting\nScheduler listening on 127.0.0.1:4 \n"),
            Some("127.0.0.1:4".into())
        );
        assert_eq!(listening_address("starting\n"), None);
        let dir = tempfile::tempdir().unwrap();
        let script = [
            "-c".to_string(),
            format!("echo starting; echo '{LISTENING}127.0.0.1:5'"),
        ];
        spawn(Path::new("/bin/sh"), dir.path(), "fake", &script, &[]).unwrap();
        let addr = listening(&dir.path().join("fake.log"), Duration::from_secs(10)).await;
        assert_eq!(addr.as_deref(), Some("127.0.0.1:5"));
        assert_eq!(
            listening(&dir.path().join("none.log"), Duration::from_millis(200)).await,
            None
        );
    }
}
