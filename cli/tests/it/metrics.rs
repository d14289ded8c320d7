//! `/metrics` of real processes, read as Prometheus reads it: a scheduler and an executor scraped after a
//! submitted run and a failed one, parsed by the official Python client (`dev/check_metrics.py`) and linted by
//! `promtool check metrics`; every family checked against the naming rules; no secret and no table data in
//! them. One-shot runs: `--metrics-textfile` and `--metrics-push` to a real Pushgateway.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cases::generate_market;
use crate::lifecycle::{Daemon, free_port, http_get, wait_for};
use crate::{python, repo_root, stderr, stdout, strata, wait_run};

/// A value no metric may ever show: it is in a secret of the processes' environment and in the job's rows.
const SECRET: &str = "zz-metrics-secret-4711";

/// Parse an exposition with the Python client: its families, by name.
fn parse(text: &str) -> BTreeMap<String, Value> {
    let mut child = Command::new(python())
        .arg(repo_root().join("dev/check_metrics.py"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        stderr(&out)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    parsed["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

/// `promtool check metrics`: Prometheus' own linter (help text, suffixes, units) has nothing to say.
fn promtool_lint(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package, installed by dev/test.sh)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// The naming rules, on what a scrape really holds.
fn check_names(families: &BTreeMap<String, Value>) {
    let allowed = [
        "strata_job",
        "outcome",
        "stage",
        "table",
        "topic",
        "partition",
        "rule",
        "method",
        "code",
        "version",
        "le",
    ];
    for (name, family) in families {
        assert!(name.starts_with("strata_"), "{name}: not prefixed strata_");
        let kind = family["type"].as_str().unwrap();
        let samples = family["samples"].as_array().unwrap();
        match kind {
            // The client strips `_total` from a counter family's name; its samples must carry it.
            "counter" => assert!(
                samples
                    .iter()
                    .all(|s| s["name"].as_str().unwrap() == format!("{name}_total")),
                "{name}: counter samples without _total"
            ),
            "histogram" => assert!(
                name.ends_with("_seconds") || name.ends_with("_bytes"),
                "{name}: no base unit"
            ),
            "gauge" => assert!(!name.ends_with("_total"), "{name}: a gauge named like a counter"),
            other => panic!("{name}: unexpected type {other}"),
        }
        assert!(!family["help"].as_str().unwrap().is_empty(), "{name}: no help");
        for sample in samples {
            for label in sample["labels"].as_object().unwrap().keys() {
                assert!(
                    allowed.contains(&label.as_str()),
                    "{name}: label {label} is not a bounded label"
                );
                assert!(label != "run_id", "{name}: a run id label");
            }
        }
    }
}

/// The value of `family`'s sample named `sample` whose labels include `labels`.
fn value(families: &BTreeMap<String, Value>, family: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    families.get(family)?["samples"].as_array()?.iter().find_map(|s| {
        let matches = s["name"] == sample && labels.iter().all(|(k, v)| s["labels"][*k] == *v);
        matches.then(|| s["value"].as_f64()).flatten()
    })
}

/// The sum over `family`'s samples named `sample` whose labels include `labels`.
fn sum(families: &BTreeMap<String, Value>, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
    families
        .get(family)
        .and_then(|f| f["samples"].as_array())
        .map_or(0.0, |samples| {
            samples
                .iter()
                .filter(|s| s["name"] == sample && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
                .filter_map(|s| s["value"].as_f64())
                .sum()
        })
}

/// A job over the generated market that plans fine and fails while it runs (line 2 casts tickers to numbers),
/// with `marker` in its rows.
pub(crate) fn failing_job(dir: &Path, marker: &str) -> std::path::PathBuf {
    let path = dir.join("failing.sql");
    std::fs::write(
        &path,
        format!(
            "CREATE EXTERNAL TABLE bronze.market_daily STORED AS DELTA LOCATION 'bronze/market_daily';\n\
             CREATE TABLE smoke.bad AS SELECT '{marker}' AS note, CAST(symbol AS INT) AS n FROM bronze.market_daily;\n"
        ),
    )
    .unwrap();
    path
}

fn scrape(addr: &str) -> String {
    let (code, body) = http_get(addr, "/metrics").unwrap();
    assert_eq!(code, 200, "{body}");
    body
}

fn submit(scheduler: &str, job: &str, warehouse: &Path) -> String {
    #[rustfmt::skip]
    let out = strata(&[
        "--log-format", "json", "submit", job, "--scheduler", scheduler, "--warehouse", warehouse.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "submit: {}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    v["run_id"].as_str().unwrap().to_string()
}

#[test]
fn a_scheduler_and_an_executor_expose_valid_metrics_of_a_submitted_run_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    generate_market(&wh, 3, 7);
    let secret_env = [
        ("STRATA_KAFKA_SASL_PASSWORD", SECRET),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
    ];
    #[rustfmt::skip]
    let sched = Daemon::start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", wh.to_str().unwrap(), "--insecure",
        "--http-bind", "127.0.0.1:0", "--executor-timeout", "3",
    ], &secret_env, &["Scheduler", "HTTP probes"]);
    let scheduler = sched.addr("Scheduler").to_string();
    #[rustfmt::skip]
    let exec = Daemon::start(&[
        "--log", "info", "executor", "--scheduler", &scheduler, "--vcores", "2", "--http-bind", "127.0.0.1:0",
        "--work-dir", dir.path().join("work").to_str().unwrap(),
    ], &secret_env, &["HTTP probes"]);
    wait_for(exec.addr("HTTP probes"), "/readyz", 200, Duration::from_secs(30));

    let ok = submit(&scheduler, "jobs/stock_market/pipeline.sql", &wh);
    assert_eq!(
        wait_run(&scheduler, &ok, Duration::from_secs(300))["state"],
        "succeeded"
    );
    let failing = failing_job(dir.path(), SECRET);
    let bad = submit(&scheduler, failing.to_str().unwrap(), &wh);
    assert_eq!(wait_run(&scheduler, &bad, Duration::from_secs(120))["state"], "failed");

    // The scheduler: both runs counted by job file and outcome, durations and stages recorded.
    let text = scrape(sched.addr("HTTP probes"));
    assert!(
        !text.contains(SECRET),
        "a secret or a row's value in the scheduler's /metrics"
    );
    assert!(!text.contains(&ok) && !text.contains(&bad), "a run id in /metrics");
    promtool_lint(&text);
    let m = parse(&text);
    check_names(&m);
    let pipeline = [("strata_job", "jobs/stock_market/pipeline.sql")];
    let failed_job = failing.to_str().unwrap();
    assert_eq!(
        value(&m, "strata_runs_started", "strata_runs_started_total", &pipeline),
        Some(1.0),
        "{text}"
    );
    let ok_end = [pipeline[0], ("outcome", "succeeded")];
    assert_eq!(
        value(&m, "strata_runs_finished", "strata_runs_finished_total", &ok_end),
        Some(1.0)
    );
    let bad_end = [("strata_job", failed_job), ("outcome", "failed")];
    assert_eq!(
        value(&m, "strata_runs_finished", "strata_runs_finished_total", &bad_end),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "strata_run_duration_seconds",
            "strata_run_duration_seconds_count",
            &ok_end
        ),
        Some(1.0)
    );
    assert!(
        value(
            &m,
            "strata_run_duration_seconds",
            "strata_run_duration_seconds_sum",
            &ok_end
        )
        .unwrap()
            > 0.0
    );
    assert!(
        sum(
            &m,
            "strata_stage_duration_seconds",
            "strata_stage_duration_seconds_count",
            &pipeline
        ) >= 3.0
    );
    let gold = [("strata_job", pipeline[0].1), ("table", "gold.daily_indicators")];
    assert!(
        value(
            &m,
            "strata_table_rows_written",
            "strata_table_rows_written_total",
            &gold
        )
        .unwrap()
            > 0.0
    );
    assert!(
        sum(
            &m,
            "strata_delta_commits",
            "strata_delta_commits_total",
            &[("outcome", "committed")]
        ) >= 2.0
    );
    assert_eq!(
        value(&m, "strata_scheduler_executors", "strata_scheduler_executors", &[]),
        Some(1.0)
    );
    assert_eq!(sum(&m, "strata_build_info", "strata_build_info", &[]), 1.0);
    // The scheduler's job service: the submissions and status polls, by method.
    assert!(
        sum(
            &m,
            "strata_flight_requests",
            "strata_flight_requests_total",
            &[("method", "Submit")]
        ) >= 2.0
    );

    // The executor: its slots and the tasks it ran.
    let text = scrape(exec.addr("HTTP probes"));
    assert!(
        !text.contains(SECRET),
        "a secret or a row's value in the executor's /metrics"
    );
    promtool_lint(&text);
    let e = parse(&text);
    check_names(&e);
    assert_eq!(
        value(&e, "strata_executor_task_slots", "strata_executor_task_slots", &[]),
        Some(2.0)
    );
    // The rows its tasks read from the job's Delta source: 3 symbols over nine years of trading days (~6,800
    // rows), read at least once.
    let source = [("strata_job", pipeline[0].1), ("table", "bronze.market_daily")];
    let read = value(&e, "strata_table_rows_read", "strata_table_rows_read_total", &source);
    assert!(
        read.is_some_and(|r| r >= 6_000.0),
        "rows read from the source: {read:?}\n{text}"
    );
    let done = sum(&e, "strata_executor_tasks", "strata_executor_tasks_total", &[]);
    assert!(done >= 1.0, "{text}");
    assert_eq!(
        sum(
            &e,
            "strata_executor_task_duration_seconds",
            "strata_executor_task_duration_seconds_count",
            &[]
        ),
        done
    );
    assert_eq!(
        value(
            &e,
            "strata_executor_tasks_running",
            "strata_executor_tasks_running",
            &[]
        ),
        Some(0.0)
    );
}

#[test]
fn a_one_shot_run_writes_a_textfile_and_pushes_to_a_pushgateway() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let job = dir.path().join("one.sql");
    std::fs::write(
        &job,
        "CREATE TABLE smoke.one (CONSTRAINT above_one EXPECT (n > 1) ON VIOLATION WARN)
         AS SELECT * FROM (VALUES (1), (2), (3)) AS t(n);\n",
    )
    .unwrap();
    let port = free_port();
    let gateway = Pushgateway::start(port, dir.path());
    let textfile = dir.path().join("strata.prom");
    #[rustfmt::skip]
    let out = strata(&[
        "run", job.to_str().unwrap(), "--no-progress", "--warehouse", wh.to_str().unwrap(),
        "--metrics-textfile", textfile.to_str().unwrap(), "--metrics-push", &format!("http://127.0.0.1:{port}"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&textfile).unwrap();
    promtool_lint(&text);
    let m = parse(&text);
    check_names(&m);
    let this = [("strata_job", job.to_str().unwrap())];
    assert_eq!(
        value(&m, "strata_runs_started", "strata_runs_started_total", &this),
        Some(1.0)
    );
    let table = [this[0], ("table", "smoke.one")];
    assert_eq!(
        value(
            &m,
            "strata_table_rows_written",
            "strata_table_rows_written_total",
            &table
        ),
        Some(3.0)
    );
    let rule = [this[0], ("table", "smoke.one"), ("rule", "above_one")];
    assert_eq!(
        value(
            &m,
            "strata_expectation_violations",
            "strata_expectation_violations_total",
            &rule
        ),
        Some(1.0)
    );

    // The gateway holds the same run, grouped by job file, for Prometheus to scrape.
    let deadline = Instant::now() + Duration::from_secs(10);
    let pushed = loop {
        let (code, body) = http_get(&format!("127.0.0.1:{port}"), "/metrics").unwrap();
        assert_eq!(code, 200);
        if body.contains("strata_runs_started_total") || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let g = parse(&pushed);
    let grouped = [("job", "strata"), this[0]];
    assert_eq!(
        value(&g, "strata_runs_started", "strata_runs_started_total", &grouped),
        Some(1.0),
        "{pushed}"
    );
    drop(gateway);

    // A second job reads the first's table as a Delta source: the embedded run counts the rows it read, once per
    // scan (no filter, so every row).
    let reader = dir.path().join("two.sql");
    std::fs::write(
        &reader,
        format!(
            "CREATE EXTERNAL TABLE src STORED AS DELTA LOCATION '{}';\n\
             CREATE TABLE smoke.two AS SELECT n * 10 AS m FROM src;\n",
            wh.join("smoke/one").display()
        ),
    )
    .unwrap();
    #[rustfmt::skip]
    let out = strata(&[
        "run", reader.to_str().unwrap(), "--no-progress", "--warehouse", wh.to_str().unwrap(),
        "--metrics-textfile", textfile.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let m = parse(&std::fs::read_to_string(&textfile).unwrap());
    let source = [("strata_job", reader.to_str().unwrap()), ("table", "src")];
    assert_eq!(
        value(&m, "strata_table_rows_read", "strata_table_rows_read_total", &source),
        Some(3.0),
        "the rows read from the Delta source (the three rows a WARN rule keeps)"
    );
}

/// Debian's `prometheus-pushgateway`, on loopback, stopped when dropped.
struct Pushgateway(std::process::Child);

impl Pushgateway {
    fn start(port: u16, dir: &Path) -> Self {
        let log = std::fs::File::create(dir.join("pushgateway.log")).unwrap();
        let child = Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus-pushgateway (Debian's package, installed by dev/test.sh)");
        wait_for(&format!("127.0.0.1:{port}"), "/-/ready", 200, Duration::from_secs(20));
        Self(child)
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn with_an_otlp_endpoint_a_run_and_its_stages_are_exported_as_one_trace() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("traced.sql");
    std::fs::write(
        &job,
        "CREATE VIEW numbers AS SELECT * FROM (VALUES (1), (2), (3)) AS t(n);
         CREATE TABLE smoke.doubled AS SELECT n * 2 AS n FROM numbers;
         CREATE TABLE smoke.total AS SELECT sum(n) AS total FROM smoke.doubled;\n",
    )
    .unwrap();
    let port = free_port();
    let spans = dir.path().join("spans.jsonl");
    let mut receiver = Command::new(python())
        .arg(repo_root().join("dev/otlp_receiver.py"))
        .arg(port.to_string())
        .arg(&spans)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the OTLP receiver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    #[rustfmt::skip]
    let out = strata(&[
        "--otlp-endpoint", &format!("http://127.0.0.1:{port}"), "run", job.to_str().unwrap(), "--no-progress",
        "--warehouse", dir.path().join("wh").to_str().unwrap(),
    ]);
    let _ = receiver.kill();
    let _ = receiver.wait();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = std::fs::read_to_string(&spans)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l.get("error").is_none()), "{lines:?}");
    let runs: Vec<&Value> = lines.iter().filter(|l| l["name"] == "run").collect();
    assert_eq!(runs.len(), 1, "{lines:?}");
    let run = runs[0];
    assert_eq!(run["service"], "strata");
    assert_eq!(run["attributes"]["job"], job.to_str().unwrap());
    let mut stages: Vec<&str> = lines
        .iter()
        .filter(|l| l["name"] == "stage")
        .inspect(|s| {
            assert_eq!(s["trace"], run["trace"], "a stage in another trace");
            assert_eq!(s["parent"], run["span"], "a stage not under its run");
        })
        .map(|s| s["attributes"]["stage"].as_str().unwrap())
        .collect();
    stages.sort_unstable();
    assert_eq!(stages, ["numbers", "smoke.doubled", "smoke.total"]);
}
