//! What a pod's lifecycle needs of the binaries, checked on real processes: `/livez` and `/readyz` on
//! `--http-bind` of the scheduler, executors, `serve` and `schedule` (an executor is ready only once registered;
//! `serve` and `schedule`, PID 1 in their containers, stop with 0 on SIGTERM), SIGTERM on an executor drains it mid-run without
//! failing the run, and SIGTERM on the scheduler lets its run finish — or, past the drain timeout, stops it with
//! nothing committed — and exits 0.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::{compare, generate_market};
use crate::{repo_root, stderr, strata};
use crate::{run_status, wait_run};

/// A `strata` process started in the background, with the addresses it printed.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    /// Printed `<what> listening on <addr>` lines, by what.
    pub(crate) listening: HashMap<String, String>,
    pub(crate) log: tempfile::NamedTempFile,
}

impl Daemon {
    /// Start `strata args` with `envs`; wait until it has printed a `<what> listening on` line for each of `wait`.
    pub(crate) fn start(args: &[&str], envs: &[(&str, &str)], wait: &[&str]) -> Self {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .current_dir(repo_root())
            .env_remove("STRATA_WAREHOUSE")
            .env_remove("STRATA_LEDGER")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut listening = HashMap::new();
        while !wait.iter().all(|w| listening.contains_key(*w)) {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some((what, addr)) = line.split_once(" listening on ") {
                        listening.insert(what.to_string(), addr.to_string());
                    }
                }
                _ => {
                    let _ = child.kill();
                    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
                    panic!("strata {args:?} ended before listening: {text}");
                }
            }
        }
        // Keep reading stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, listening, log }
    }

    pub(crate) fn addr(&self, what: &str) -> &str {
        &self.listening[what]
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Send SIGTERM and wait (at most `limit`) for the exit; returns the exit code.
    pub(crate) fn terminate(&mut self, limit: Duration) -> i32 {
        signal(self.child.id(), "-TERM");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after SIGTERM: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(pid: u32, which: &str) {
    let out = Command::new("kill").args([which, &pid.to_string()]).output().unwrap();
    assert!(out.status.success(), "kill {which} {pid}");
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on `addr`: the status code and body, or `None` when nothing answers.
pub(crate) fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked")
    });
    Some((code, if chunked { dechunk(body) } else { body.to_string() }))
}

/// The body of a `Transfer-Encoding: chunked` response.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// Poll `GET path` until it answers `code` (at most `limit`).
pub(crate) fn wait_for(addr: &str, path: &str, code: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut last = None;
    while Instant::now() < deadline {
        last = http_get(addr, path);
        if last.as_ref().is_some_and(|(c, _)| *c == code) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{addr}{path} never answered {code} within {limit:?}: last {last:?}");
}

/// An executor of `scheduler` with its probes on a free port (`Daemon::addr("HTTP probes")`).
fn executor(scheduler: &str, work: &Path) -> Daemon {
    #[rustfmt::skip]
    let args = [
        "--log", "info", "executor", "--scheduler", scheduler, "--vcores", "2", "--http-bind", "127.0.0.1:0",
        "--drain-timeout", "60", "--work-dir", work.to_str().unwrap(),
    ];
    Daemon::start(&args, &[], &["HTTP probes"])
}

fn scheduler(warehouse: &Path, bind: &str, drain: &str) -> Daemon {
    #[rustfmt::skip]
    let args = [
        "--log", "info", "scheduler", "--bind", bind, "--warehouse", warehouse.to_str().unwrap(), "--insecure",
        "--http-bind", "127.0.0.1:0", "--drain-timeout", drain, "--executor-timeout", "3",
    ];
    Daemon::start(&args, &[], &["Scheduler", "HTTP probes"])
}

#[test]
fn an_executor_is_ready_once_registered_alive_throughout_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut exec = executor(&format!("127.0.0.1:{port}"), &dir.path().join("e"));
    let http = exec.addr("HTTP probes").to_string();
    // No scheduler yet: alive, not ready, and it says why.
    wait_for(&http, "/livez", 200, Duration::from_secs(20));
    for _ in 0..10 {
        let (code, body) = http_get(&http, "/readyz").unwrap();
        assert_eq!(code, 503, "{body}");
        assert!(body.contains("not registered"), "{body}");
        assert_eq!(http_get(&http, "/livez").unwrap().0, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    let sched = scheduler(&dir.path().join("wh"), &format!("127.0.0.1:{port}"), "5");
    wait_for(&http, "/readyz", 200, Duration::from_secs(30));
    assert_eq!(http_get(&http, "/livez").unwrap().0, 200);
    // The scheduler is ready too: it runs and its warehouse answers.
    wait_for(sched.addr("HTTP probes"), "/readyz", 200, Duration::from_secs(20));
    assert_eq!(exec.terminate(Duration::from_secs(30)), 0, "{}", exec.logs());
    assert!(exec.logs().contains("executor drained and stopped"), "{}", exec.logs());
}

/// Twelve symbols' nine years in `dir/wh`, and in `dir/embedded` the tables an embedded run makes of them.
fn stock(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (wh, embedded) = (dir.join("wh"), dir.join("embedded"));
    generate_market(&wh, 12, 19);
    generate_market(&embedded, 12, 19);
    crate::run_stock_embedded(&embedded);
    (wh, embedded)
}

const GOLD: &[&str] = &["silver.daily_bars", "gold.daily_indicators"];

fn submit(scheduler: &str, warehouse: &Path) -> String {
    #[rustfmt::skip]
    let out = strata(&[
        "--log-format", "json", "submit", "jobs/stock_market/pipeline.sql", "--scheduler", scheduler,
        "--warehouse", warehouse.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "submit: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(crate::stdout(&out).trim()).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

/// A scheduler on `warehouse` with `drain` seconds of drain, and one ready executor: (scheduler, executor).
fn one_executor(warehouse: &Path, drain: &str, work: &Path) -> (Daemon, Daemon) {
    let sched = scheduler(warehouse, "127.0.0.1:0", drain);
    let exec = executor(sched.addr("Scheduler"), work);
    wait_for(exec.addr("HTTP probes"), "/readyz", 200, Duration::from_secs(30));
    (sched, exec)
}

#[test]
fn sigterm_drains_an_executor_mid_run_and_the_run_succeeds_with_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (wh, embedded) = stock(dir.path());
    let sched = scheduler(&wh, "127.0.0.1:0", "60");
    let addr = sched.addr("Scheduler").to_string();
    let mut execs: Vec<Daemon> = (0..2)
        .map(|i| executor(&addr, &dir.path().join(format!("e{i}"))))
        .collect();
    for exec in &execs {
        wait_for(exec.addr("HTTP probes"), "/readyz", 200, Duration::from_secs(30));
    }
    let run_id = submit(&addr, &wh);
    // Once a stage runs, SIGTERM one executor: it drains and exits 0; the other finishes the run.
    let deadline = Instant::now() + Duration::from_secs(60);
    while run_status(&addr, &run_id)["stages"]
        .as_array()
        .is_none_or(|s| !s.iter().any(|s| s["state"] == "running" || s["state"] == "succeeded"))
    {
        assert!(Instant::now() < deadline, "no stage started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let code = execs[0].terminate(Duration::from_secs(90));
    assert_eq!(code, 0, "{}", execs[0].logs());
    let end = wait_run(&addr, &run_id, Duration::from_secs(180));
    assert_eq!(end["state"], "succeeded", "{end}\n{}", sched.logs());
    let (same, report) = compare(&wh, &embedded, GOLD);
    assert!(same, "{report}");
    drop(execs.remove(1));
}

#[test]
fn sigterm_on_the_scheduler_finishes_its_run_or_stops_it_with_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let (wh, embedded) = stock(dir.path());
    // A drain long enough: the run in progress finishes and commits, then the scheduler exits 0.
    {
        let (mut sched, _exec) = one_executor(&wh, "120", &dir.path().join("e0"));
        submit(sched.addr("Scheduler"), &wh);
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(sched.terminate(Duration::from_secs(150)), 0, "{}", sched.logs());
        assert!(
            sched.logs().contains("scheduler drained and stopped"),
            "{}",
            sched.logs()
        );
        let (same, report) = compare(&wh, &embedded, GOLD);
        assert!(same, "the drained run committed its tables: {report}");
    }
    // No drain time: the run is stopped and nothing of it is committed.
    let fresh = dir.path().join("fresh");
    generate_market(&fresh, 12, 19);
    let (mut sched, _exec) = one_executor(&fresh, "0", &dir.path().join("e1"));
    submit(sched.addr("Scheduler"), &fresh);
    assert_eq!(sched.terminate(Duration::from_secs(30)), 0, "{}", sched.logs());
    assert!(sched.logs().contains("stopping the run"), "{}", sched.logs());
    for table in GOLD {
        let log = fresh.join(table.replace('.', "/")).join("_delta_log");
        assert!(!log.exists(), "{table} was committed by a stopped run");
    }
}

#[test]
fn serve_and_schedule_serve_probes_and_stop_with_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    std::fs::create_dir_all(&wh).unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    // A job due once a year: the runner waits, serving its probes.
    std::fs::write(
        jobs.join("yearly.sql"),
        "--! schedule '0 0 1 1 *'\nCREATE TABLE smoke.one AS SELECT 1 AS one;\n",
    )
    .unwrap();
    let (serve_http, schedule_http) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    #[rustfmt::skip]
    let mut serve = Daemon::start(&[
        "serve", "--warehouse", wh.to_str().unwrap(), "--bind", "127.0.0.1:0", "--insecure", "--http-bind", &serve_http,
    ], &[], &["Flight SQL", "HTTP probes"]);
    #[rustfmt::skip]
    let mut schedule = Daemon::start(&[
        "--log", "info", "schedule", jobs.to_str().unwrap(), "--warehouse", wh.to_str().unwrap(), "--state-dir",
        dir.path().join("state").to_str().unwrap(), "--http-bind", &schedule_http,
    ], &[], &[]);
    for http in [&serve_http, &schedule_http] {
        wait_for(http, "/livez", 200, Duration::from_secs(30));
        wait_for(http, "/readyz", 200, Duration::from_secs(30));
    }
    assert_eq!(serve.terminate(Duration::from_secs(10)), 0, "{}", serve.logs());
    assert_eq!(schedule.terminate(Duration::from_secs(10)), 0, "{}", schedule.logs());
}
