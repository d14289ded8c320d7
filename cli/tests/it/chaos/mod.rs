//! The chaos suite: faults at random moments of cluster runs, and what must hold after each. A run either succeeds
//! with the tables an embedded run writes (compared by the independent `deltalake` reader) or fails with nothing
//! half-written (each table is untouched or complete); no Ballista job is left running; and the next run succeeds.
//!
//! Moments and victims come from a seeded generator: the seed is printed, and `STRATA_TEST_SEED` replays it. The
//! short form (the suite's default) runs each fault a few times; `STRATA_CHAOS_ROUNDS=N` runs every fault N times
//! (the long form: 20). The chaos tests run one at a time (each has a cluster of its own).
//!
//! The cluster here is started process by process (not by `strata cluster up`, whose supervisor would restart what
//! the test kills), with short timeouts: an executor is lost after 3 s without a heartbeat, and a Ballista job that
//! makes no progress with nothing running is cancelled after 15 s.

mod faults;
mod kills;
mod net;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use strata_proto::job::HealthRequest;
use strata_proto::job::service::job_service_client::JobServiceClient;

use crate::cluster::{compare, copy_dir};
use crate::*;

pub(crate) use net::Net;

/// Seconds without a heartbeat before the chaos scheduler counts an executor lost.
const EXECUTOR_TIMEOUT: u64 = 3;
/// Seconds a job may make no progress with nothing running before the chaos scheduler cancels it.
const STALL_TIMEOUT: u64 = 15;

/// xorshift64*: enough for fault moments, and replayable from the printed seed.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from the test's seed (printed).
    pub(crate) fn seeded() -> (u64, Self) {
        let seed = crate::test_seed();
        // xorshift never leaves zero.
        (seed, Self(seed | 1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A moment in the first `fraction` of `span`, at least 200 ms in.
    pub(crate) fn moment(&mut self, span: Duration, fraction: f64) -> Duration {
        let range = (span.as_millis() as f64 * fraction) as u64;
        Duration::from_millis(200 + self.below(range))
    }
}

/// One chaos test at a time: each starts a cluster, and two of them on two cores would mostly measure each other.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A test's directory: removed afterwards unless `STRATA_CHAOS_KEEP` is set (then printed, logs and all).
pub(crate) fn root() -> tempfile::TempDir {
    let mut root = tempfile::tempdir().unwrap();
    if std::env::var_os("STRATA_CHAOS_KEEP").is_some() {
        root.disable_cleanup(true);
        println!("chaos directory: {}", root.path().display());
    }
    root
}

/// Rounds of each fault: `STRATA_CHAOS_ROUNDS`, else `short`.
pub(crate) fn rounds(short: usize) -> usize {
    std::env::var("STRATA_CHAOS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(short)
}

/// A child process, killed and reaped when dropped.
pub(crate) struct Proc {
    child: Child,
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` (`KILL`, `STOP`, `CONT`, `TERM`).
    pub(crate) fn signal(&self, signal: &str) {
        let out = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "kill -{signal} {}", self.pid());
    }

    /// Whether the process has ended.
    pub(crate) fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// `kill -9` and reap.
    pub(crate) fn kill(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A stopped process must be continued to die of anything but KILL; KILL works either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `strata args…` with its output in `log` (stdout in `log.out`).
pub(crate) fn spawn(args: &[String], log: &Path, netns: Option<&str>) -> Proc {
    spawn_with(args, log, netns, &[])
}

/// [`spawn`] with more environment variables.
fn spawn_with(args: &[String], log: &Path, netns: Option<&str>, envs: &[(&str, String)]) -> Proc {
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(env!("CARGO_BIN_EXE_strata"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_strata")),
    };
    let child = command
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(File::create(log.with_extension("out")).unwrap())
        .stderr(File::create(log).unwrap())
        .spawn()
        .unwrap();
    Proc { child }
}

/// A scheduler and executors, each a process the test may kill, stop or cut off.
pub(crate) struct Chaos {
    root: PathBuf,
    /// The scheduler's address for clients (loopback).
    pub(crate) addr: String,
    scheduler: Option<Proc>,
    /// Executors by index; `None` once killed.
    pub(crate) executors: Vec<Option<Proc>>,
    started: usize,
    net: Option<Net>,
}

impl Chaos {
    /// A scheduler and `executors` executors (two task slots each), on loopback or, with `net`, each executor in a
    /// network namespace of its own behind a bridge (so one can be cut off).
    pub(crate) fn up(root: &Path, executors: usize, net: Option<Net>) -> Self {
        let mut chaos = Self {
            root: root.join("chaos"),
            addr: String::new(),
            scheduler: None,
            executors: Vec::new(),
            started: 0,
            net,
        };
        std::fs::create_dir_all(&chaos.root).unwrap();
        chaos.start_scheduler("127.0.0.1:0");
        for _ in 0..executors {
            chaos.start_executor();
        }
        chaos.wait_alive(executors);
        chaos
    }

    /// Start the scheduler on `bind` (all addresses when executors are in namespaces).
    fn start_scheduler(&mut self, bind: &str) {
        let bind = match &self.net {
            Some(_) => bind.replace("127.0.0.1", "0.0.0.0"),
            None => bind.to_string(),
        };
        let log = self.root.join(format!("scheduler-{}.log", self.started));
        self.started += 1;
        #[rustfmt::skip]
        let mut args: Vec<String> = [
            "--log", "info", "scheduler", "--bind", &bind, "--warehouse", self.root.to_str().unwrap(),
            "--executor-timeout", &EXECUTOR_TIMEOUT.to_string(), "--stall-timeout", &STALL_TIMEOUT.to_string(),
            "--insecure", "--allow-location", "*",
        ].iter().map(|s| s.to_string()).collect();
        // Executors in namespaces report to the scheduler's address on the bridge.
        if let Some(net) = &self.net {
            args.extend(["--external-host".to_string(), net.gateway().to_string()]);
        }
        // Submitted Kafka jobs name no brokers: the scheduler's environment does (when the suite has a broker).
        let brokers: Vec<(&str, String)> = std::env::var("STRATA_KAFKA")
            .map(|b| vec![("STRATA_KAFKA_BROKERS", b)])
            .unwrap_or_default();
        let proc = spawn_with(&args, &log, None, &brokers);
        let out = log.with_extension("out");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|l| l.strip_prefix("Scheduler listening on ")) {
                break addr.rsplit(':').next().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "the scheduler did not start:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        self.addr = format!("127.0.0.1:{port}");
        self.scheduler = Some(proc);
    }

    /// Kill the scheduler (`kill -9`) and start another on the same port.
    pub(crate) fn restart_scheduler(&mut self) {
        if let Some(mut s) = self.scheduler.take() {
            s.kill();
        }
        let addr = self.addr.clone();
        self.start_scheduler(&addr);
    }

    /// Start one more executor (a replacement, as a Deployment would); returns its index.
    pub(crate) fn start_executor(&mut self) -> usize {
        let i = self.executors.len();
        let work = self.root.join(format!("executor-{i}"));
        let port = self.addr.rsplit(':').next().unwrap().to_string();
        let (ns, host, scheduler) = match &mut self.net {
            Some(net) => {
                let (ns, host) = net.add(i);
                (Some(ns), host, format!("{}:{port}", net.gateway()))
            }
            None => (None, "127.0.0.1".to_string(), self.addr.clone()),
        };
        #[rustfmt::skip]
        let args: Vec<String> = [
            "--log", "info", "executor", "--scheduler", &scheduler, "--bind-host", &host, "--vcores", "2",
            "--work-dir", work.to_str().unwrap(),
        ].iter().map(|s| s.to_string()).collect();
        let proc = spawn(&args, &self.root.join(format!("executor-{i}.log")), ns.as_deref());
        self.executors.push(Some(proc));
        i
    }

    /// After a fault that lets executor `victim` come back: a zombie that Ballista already counted lost stops
    /// itself once it hears so; a stopped one is replaced (a Deployment restarts its pod). Then all `n` executors
    /// must be alive again.
    pub(crate) fn restore(&mut self, victim: usize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.executors[victim].as_mut().is_some_and(Proc::exited) {
                self.executors[victim] = None;
                self.start_executor();
                break;
            }
            if self.health().map(|h| h.0 as usize) == Some(n) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.wait_alive(n);
    }

    /// Indexes of the executors not killed.
    pub(crate) fn alive(&self) -> Vec<usize> {
        (0..self.executors.len())
            .filter(|i| self.executors[*i].is_some())
            .collect()
    }

    /// `kill -9` executor `i`.
    pub(crate) fn kill_executor(&mut self, i: usize) {
        if let Some(mut e) = self.executors[i].take() {
            e.kill();
        }
    }

    pub(crate) fn net(&self) -> &Net {
        self.net.as_ref().unwrap()
    }

    /// Executors alive and Ballista jobs running, as the scheduler reports them; `None` when it does not answer.
    pub(crate) fn health(&self) -> Option<(u32, u32)> {
        let endpoint = format!("http://{}", self.addr);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut client = JobServiceClient::connect(endpoint).await.ok()?;
                let health = client.health(HealthRequest {}).await.ok()?.into_inner();
                Some((health.alive_executors, health.running_jobs))
            })
    }

    /// Wait until `n` executors are alive.
    pub(crate) fn wait_alive(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.health().map(|h| h.0 as usize) != Some(n) {
            assert!(
                Instant::now() < deadline,
                "{n} executors never registered:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Wait until the scheduler runs no Ballista job (an orphan would keep one running); the time it took.
    pub(crate) fn wait_idle(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        while self.health().map(|h| h.1) != Some(0) {
            assert!(
                started.elapsed() < limit,
                "Ballista jobs still running {limit:?} after the fault: {:?}\n{}",
                self.health(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        started.elapsed()
    }

    /// Submit `job` over `warehouse`; returns the run id.
    pub(crate) fn submit(&self, job: &str, warehouse: &Path) -> String {
        #[rustfmt::skip]
        let out = strata(&[
            "--log-format", "json", "submit", job, "--scheduler", &self.addr, "--warehouse",
            warehouse.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "submit: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        v["run_id"].as_str().unwrap().to_string()
    }

    /// Poll until the run ends; its final status.
    pub(crate) fn wait(&self, run_id: &str, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let out = strata(&["--log-format", "json", "status", run_id, "--scheduler", &self.addr]);
            assert!(out.status.success(), "status: {}", stderr(&out));
            let status: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
            if status["state"] == "succeeded" || status["state"] == "failed" {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} still {} after {limit:?}:\n{}",
                status["state"],
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines of every process's log.
    pub(crate) fn logs(&self) -> String {
        crate::cluster::tail_logs(&self.root, 12)
    }

    /// An undisturbed run of `base`'s job: its time sets the limit of disturbed ones.
    pub(crate) fn undisturbed(&self, base: &Baseline, root: &Path) -> Duration {
        let wh = base.warehouse(&root.join("calm"));
        let started = Instant::now();
        let status = self.wait(&self.submit(&base.job, &wh), Duration::from_secs(300));
        assert_eq!(status["state"], "succeeded", "{status}");
        let took = started.elapsed();
        base.assert_equal(&wh, "undisturbed run");
        took
    }
}

/// The inputs of a chaos test's runs and the tables an embedded run writes from them.
pub(crate) struct Baseline {
    pub(crate) inputs: PathBuf,
    pub(crate) embedded: PathBuf,
    pub(crate) job: String,
    pub(crate) tables: &'static [&'static str],
}

impl Baseline {
    /// The stock pipeline over `symbols` generated symbols, run embedded once.
    pub(crate) fn stock(root: &Path, symbols: usize) -> Self {
        let inputs = root.join("inputs");
        crate::cluster::generate_market(&inputs, symbols, 7);
        let embedded = root.join("embedded");
        copy_dir(&inputs, &embedded);
        let job = "jobs/stock_market/pipeline.sql";
        crate::cluster::run_job(&["run", job, "--no-progress", "--warehouse", embedded.to_str().unwrap()]);
        Self {
            inputs,
            embedded,
            job: job.to_string(),
            tables: crate::cluster::STOCK_TABLES,
        }
    }

    /// `jobs/stock_stream/ingest.sql` on topics of its own (2000 ticks, 1% malformed), run embedded once.
    pub(crate) fn kafka(root: &Path) -> Self {
        use crate::kafka::{broker, create_topic, produce, unique};
        let (raw, processed) = (unique("chaos-raw"), unique("chaos-processed"));
        create_topic(&raw, 4);
        create_topic(&processed, 2);
        let messages: Vec<(String, String)> = (0..2000u64)
            .map(|i| {
                let symbol = format!("S{}", i % 17);
                let value = if i % 100 == 7 {
                    format!(r#"{{"symbol":"{symbol}","price":"n/a","timestamp":"2024-05-01T10:00:00Z"}}"#)
                } else {
                    format!(
                        r#"{{"symbol":"{symbol}","price":{}.{},"volume":{},"timestamp":"2024-05-01T{:02}:{:02}:{:02}Z","fetch_timestamp":{}}}"#,
                        100 + i % 37,
                        i % 100,
                        1000 + i % 13,
                        9 + i / 600,
                        i / 10 % 60,
                        i % 60,
                        1_714_557_600 + i
                    )
                };
                (symbol, value)
            })
            .collect();
        produce(&raw, &messages, false);
        let text = std::fs::read_to_string(repo_root().join("jobs/stock_stream/ingest.sql"))
            .unwrap()
            .replace("kafka:///raw-stock-data", &format!("kafka:///{raw}"))
            .replace("kafka:///processed-stock-data", &format!("kafka:///{processed}"));
        let job = root.join("ingest.sql");
        std::fs::write(&job, text).unwrap();
        let inputs = root.join("inputs");
        std::fs::create_dir_all(&inputs).unwrap();
        let embedded = root.join("embedded");
        #[rustfmt::skip]
        crate::cluster::run_job(&[
            "run", job.to_str().unwrap(), "--no-progress", "--kafka-brokers", &broker(), "--warehouse",
            embedded.to_str().unwrap(),
        ]);
        Self {
            inputs,
            embedded,
            job: job.to_str().unwrap().to_string(),
            tables: &[
                "bronze.stock_prices",
                "silver.stock_aggregates",
                "bronze.raw_ticks_dead_letter",
            ],
        }
    }

    /// A fresh warehouse holding the inputs.
    pub(crate) fn warehouse(&self, at: &Path) -> PathBuf {
        copy_dir(&self.inputs, at);
        at.to_path_buf()
    }

    /// Every table equals the embedded run's.
    pub(crate) fn assert_equal(&self, warehouse: &Path, what: &str) {
        let (same, report) = compare(&self.embedded, warehouse, self.tables);
        assert!(same, "{what}:\n{report}");
    }

    /// Nothing half-written: each table is absent (never committed) or equals the embedded run's. Returns how many
    /// were committed.
    pub(crate) fn assert_untouched_or_equal(&self, warehouse: &Path, what: &str) -> usize {
        let mut committed = 0;
        for table in self.tables {
            let log = warehouse.join(table.replace('.', "/")).join("_delta_log");
            let has_commit = std::fs::read_dir(&log)
                .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".json")))
                .unwrap_or(false);
            if has_commit {
                committed += 1;
                let (same, report) = compare(&self.embedded, warehouse, &[table]);
                assert!(same, "{what}: {table} was committed but differs:\n{report}");
            }
        }
        committed
    }
}
