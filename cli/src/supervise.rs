//! Process supervision for a local cluster: start a scheduler and executors as background processes (each in
//! its own process group, logging to a file), wait until the scheduler says where it listens and every executor
//! has registered, record them in a state file, and stop them again (TERM, then KILL after a grace period).
//!
//! A cluster is up exactly while its state file exists: `up` refuses to start a second one over it, and a
//! failed `up` stops what it started and leaves no state file.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

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

/// Start `program args` in the background with stdout and stderr appended to `<dir>/<name>.log`.
pub fn spawn_child(
    program: &Path,
    dir: &Path,
    name: &str,
    args: &[String],
    envs: &[(&str, &str)],
) -> Result<std::process::Child, CliError> {
    let path = log_file(dir, name);
    // Appended, so a restarted process's log keeps what its first attempt said.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(CliError::io(&path))?;
    let err = log.try_clone().map_err(CliError::io(&path))?;
    std::process::Command::new(program)
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
        })
}

/// The log file of process `name` of the cluster in `dir`.
pub fn log_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// The last `lines` lines of `path` (empty if it cannot be read), for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
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

/// What a starting scheduler's log says.
#[derive(Debug, PartialEq, Eq)]
pub enum Listening {
    /// It listens at this address.
    At(String),
    /// The process exited before saying so.
    Exited(std::process::ExitStatus),
    /// It said nothing of the kind in time.
    Silent,
}

/// Where `scheduler`, writing its output to `log`, listens, once it says so within `wait`.
pub async fn listening(log: &Path, wait: Duration, scheduler: &mut Child) -> Listening {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(addr) = std::fs::read_to_string(log).ok().as_deref().and_then(listening_address) {
            return Listening::At(addr);
        }
        if let Ok(Some(status)) = scheduler.try_wait() {
            return Listening::Exited(status);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Listening::Silent
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
    /// Each executor's memory budget as given (`4G`, …); none for unbounded.
    pub memory_limit: Option<String>,
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
        // Logs are appended (a restarted executor keeps its first attempt's words), so a new cluster starts new
        // ones: an earlier cluster's "listening" line must never be read as this scheduler's address.
        for name in std::iter::once("scheduler".to_string()).chain((0..self.executors).map(|i| format!("executor-{i}")))
        {
            let log = log_file(dir, &name);
            match std::fs::remove_file(&log) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(CliError::io(&log)(e)),
                _ => {}
            }
        }
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
            // A local cluster is for this machine's user (its scheduler binds loopback only): no login, and jobs
            // may use any location, as `strata run` may.
            "--insecure".into(),
            "--allow-location".into(),
            "*".into(),
        ];
        let brokers: Vec<(&str, &str)> = match self.kafka_brokers.as_str() {
            "" => Vec::new(),
            brokers => vec![("STRATA_KAFKA_BROKERS", brokers)],
        };
        let mut scheduler = spawn_child(program, dir, "scheduler", &args, &brokers)?;
        let log = log_file(dir, "scheduler");
        let address = match listening(&log, START_WAIT, &mut scheduler).await {
            Listening::At(address) => address,
            Listening::Exited(status) => return Err(exited("scheduler", status, dir)),
            Listening::Silent => {
                stop_children(&mut [&mut scheduler], STOP_GRACE);
                return Err(CliError::SchedulerDidNotStart {
                    log,
                    seconds: START_WAIT.as_secs(),
                });
            }
        };
        let mut executors: Vec<Started> = Vec::with_capacity(self.executors);
        for i in 0..self.executors {
            let name = format!("executor-{i}");
            let work = dir.join(&name);
            let mut args: Vec<String> = vec![
                "--log".into(),
                "info".into(),
                "executor".into(),
                "--scheduler".into(),
                address.clone(),
                "--work-dir".into(),
                work.display().to_string(),
                "--vcores".into(),
                self.vcores.to_string(),
            ];
            if let Some(limit) = &self.memory_limit {
                args.extend(["--memory-limit".into(), limit.clone()]);
            }
            match spawn_child(program, dir, &name, &args, &[]) {
                Ok(child) => executors.push(Started {
                    name,
                    args,
                    child,
                    starts: 1,
                }),
                Err(e) => {
                    stop_all(&mut scheduler, &mut executors);
                    return Err(e);
                }
            }
        }
        let mut state = ClusterState {
            scheduler: address.clone(),
            scheduler_pid: scheduler.id(),
            executor_pids: executors.iter().map(|e| e.child.id()).collect(),
        };
        let result = async {
            write_state(dir, &state)?;
            self.wait_ready(program, &mut scheduler, &mut executors, &mut state)
                .await
        }
        .await;
        if let Err(e) = result {
            stop_all(&mut scheduler, &mut executors);
            let _ = std::fs::remove_file(state_file(dir));
            return Err(e);
        }
        Ok(state)
    }

    /// Wait until the scheduler reports every executor alive. An executor that exits meanwhile is started again
    /// (up to [`START_ATTEMPTS`] times): Ballista binds the ports an executor was given only after it registers,
    /// so another process can take one first. The scheduler exiting, or an executor exiting every time, fails at
    /// once with the end of its log.
    async fn wait_ready(
        &self,
        program: &Path,
        scheduler: &mut Child,
        executors: &mut [Started],
        state: &mut ClusterState,
    ) -> Result<(), CliError> {
        let dir = &self.dir;
        let deadline = Instant::now() + START_WAIT;
        loop {
            if alive_executors(&state.scheduler).await >= self.executors {
                return Ok(());
            }
            if let Ok(Some(status)) = scheduler.try_wait() {
                return Err(exited("scheduler", status, dir));
            }
            for (i, e) in executors.iter_mut().enumerate() {
                let Ok(Some(status)) = e.child.try_wait() else {
                    continue;
                };
                if e.starts >= START_ATTEMPTS {
                    return Err(exited(&e.name, status, dir));
                }
                tracing::warn!(executor = %e.name, %status, "an executor exited while the cluster was starting; starting it again");
                e.child = spawn_child(program, dir, &e.name, &e.args, &[])?;
                e.starts += 1;
                state.executor_pids[i] = e.child.id();
                write_state(dir, state)?;
            }
            if Instant::now() > deadline {
                let logs = std::iter::once("scheduler")
                    .chain(executors.iter().map(|e| e.name.as_str()))
                    .map(|name| format!("\n--- {name} ---\n{}", log_tail(&log_file(dir, name), TAIL_LINES)))
                    .collect();
                return Err(CliError::ClusterDidNotStart {
                    dir: dir.clone(),
                    seconds: START_WAIT.as_secs(),
                    logs,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// How many times `cluster up` starts an executor that keeps exiting before it gives up.
pub const START_ATTEMPTS: u32 = 3;

/// How many lines of a log an error message quotes.
const TAIL_LINES: usize = 20;

/// A process `cluster up` started and how to start it again.
struct Started {
    name: String,
    args: Vec<String>,
    child: Child,
    starts: u32,
}

/// The error for process `name` of the cluster in `dir` having exited with `status`.
fn exited(name: &str, status: std::process::ExitStatus, dir: &Path) -> CliError {
    let log = log_file(dir, name);
    CliError::ProcessExited {
        name: name.to_string(),
        status,
        tail: log_tail(&log, TAIL_LINES),
        log,
    }
}

/// Stop what a failed `cluster up` started.
fn stop_all(scheduler: &mut Child, executors: &mut [Started]) {
    let mut children: Vec<&mut Child> = executors.iter_mut().map(|e| &mut e.child).collect();
    children.push(scheduler);
    stop_children(&mut children, STOP_GRACE);
}

/// Stop (and reap) children of this process: TERM, up to `grace` for them to exit, then KILL. Unlike [`stop`],
/// an exited child does not count as running until it is reaped.
fn stop_children(children: &mut [&mut Child], grace: Duration) {
    for c in children.iter() {
        signal(c.id(), libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && children.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in children.iter_mut() {
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How many executors the scheduler at `addr` reports alive (0 if it does not answer).
async fn alive_executors(addr: &str) -> usize {
    match crate::remote::connect(addr).await {
        Ok(mut c) => match c.health().await {
            Ok(h) => h.alive_executors as usize,
            Err(_) => 0,
        },
        Err(_) => 0,
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
            memory_limit: None,
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
        let mut fake = spawn_child(Path::new("/bin/sh"), dir.path(), "fake", &script, &[]).unwrap();
        let addr = listening(&dir.path().join("fake.log"), Duration::from_secs(10), &mut fake).await;
        assert_eq!(addr, Listening::At("127.0.0.1:5".into()));
        let silent = ["-c".to_string(), "sleep 5".to_string()];
        let mut sleeper = spawn_child(Path::new("/bin/sh"), dir.path(), "sleeper", &silent, &[]).unwrap();
        let log = dir.path().join("sleeper.log");
        assert_eq!(
            listening(&log, Duration::from_millis(300), &mut sleeper).await,
            Listening::Silent
        );
        stop_children(&mut [&mut sleeper], Duration::from_secs(1));
        let failing = ["-c".to_string(), "echo no; exit 3".to_string()];
        let mut failing = spawn_child(Path::new("/bin/sh"), dir.path(), "failing", &failing, &[]).unwrap();
        let log = dir.path().join("failing.log");
        let Listening::Exited(status) = listening(&log, Duration::from_secs(10), &mut failing).await else {
            panic!("a scheduler that exits is noticed");
        };
        assert_eq!(status.code(), Some(3));
    }

    #[tokio::test]
    async fn an_executor_that_keeps_exiting_fails_the_start_at_once_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        // A stand-in `strata`: the scheduler says where it listens (nothing answers there), every executor fails.
        let program = dir.path().join("strata");
        let script = format!(
            "#!/bin/sh\nif [ \"$3\" = scheduler ]; then echo '{LISTENING}127.0.0.1:1'; exec sleep 30; fi\n\
             echo \"cannot bind 127.0.0.1:7: address in use\"; exit 1\n"
        );
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let cluster = cluster(&dir.path().join("c"));
        let started = Instant::now();
        let err = cluster.up(&program).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no waiting out the start deadline"
        );
        let CliError::ProcessExited { name, status, tail, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!((name.as_str(), status.code()), ("executor-0", Some(1)));
        assert_eq!(tail.matches("address in use").count() as u32, START_ATTEMPTS, "{tail}");
        assert!(
            err.to_string()
                .starts_with("executor-0 exited while the cluster was starting"),
            "{err}"
        );
        assert!(!state_file(&cluster.dir).exists(), "a failed start leaves no cluster");
    }
}
