//! The same jobs in three modes — embedded, in-process Ballista (standalone), and a real cluster of one scheduler
//! and two executor processes — with warehouses on the local disk and on an S3-compatible store, must write the
//! same tables; the cluster must survive losing one executor and fail clearly, committing nothing, when it loses
//! them all.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::*;

use crate::cases::{JobCase, jobs};
pub(crate) use crate::cases::{STOCK_TABLES, TRIP_PARAMS, generate_market};

/// A local cluster (`strata cluster up`), stopped on drop.
pub(crate) struct Cluster {
    dir: PathBuf,
    pub(crate) scheduler: String,
    pub(crate) executors: Vec<u32>,
}

impl Cluster {
    pub(crate) fn up(root: &Path, executors: usize, warehouse: impl AsRef<OsStr>) -> Self {
        Self::up_with(root, executors, warehouse, &[])
    }

    /// [`Cluster::up`] with more `cluster up` arguments.
    pub(crate) fn up_with(root: &Path, executors: usize, warehouse: impl AsRef<OsStr>, extra: &[&str]) -> Self {
        let dir = root.join("cluster");
        let n = executors.to_string();
        #[rustfmt::skip]
        let mut args = vec![
            "cluster", "up", "--executors", &n, "--port", "0", "--vcores", "2", "--dir", dir.to_str().unwrap(),
            "--warehouse", text(&warehouse),
        ];
        args.extend_from_slice(extra);
        let out = strata(&args);
        assert!(out.status.success(), "cluster up: {}", stderr(&out));
        let state: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cluster.json")).unwrap()).unwrap();
        Self {
            dir,
            scheduler: state["scheduler"].as_str().unwrap().to_string(),
            executors: state["executor_pids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_u64().unwrap() as u32)
                .collect(),
        }
    }

    pub(crate) fn status(&self, run_id: &str) -> serde_json::Value {
        crate::run_status(&self.scheduler, run_id)
    }

    pub(crate) fn submit(&self, job: &str, warehouse: impl AsRef<OsStr>) -> String {
        self.submit_with(job, warehouse, &[])
    }

    pub(crate) fn submit_with(&self, job: &str, warehouse: impl AsRef<OsStr>, params: &[&str]) -> String {
        let params: Vec<&str> = params.iter().flat_map(|p| ["--param", p]).collect();
        self.submit_args(job, warehouse, &params)
    }

    pub(crate) fn submit_args(&self, job: &str, warehouse: impl AsRef<OsStr>, extra: &[&str]) -> String {
        #[rustfmt::skip]
        let mut args = vec![
            "--log-format", "json", "submit", job, "--scheduler", &self.scheduler, "--warehouse", text(&warehouse),
        ];
        args.extend_from_slice(extra);
        let out = strata(&args);
        assert!(out.status.success(), "submit: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        v["run_id"].as_str().unwrap().to_string()
    }

    /// Poll until the run ends; returns its final status.
    pub(crate) fn wait(&self, run_id: &str, limit: Duration) -> serde_json::Value {
        crate::wait_run(&self.scheduler, run_id, limit)
    }

    pub(crate) fn kill(&self, pid: u32) {
        let out = Command::new("kill").args(["-9", &pid.to_string()]).output().unwrap();
        assert!(out.status.success(), "kill -9 {pid}");
    }

    pub(crate) fn logs(&self) -> String {
        tail_logs(&self.dir, 15)
    }
}

/// The last `lines` lines of every `*.log` file in `dir`, each under its path.
pub(crate) fn tail_logs(dir: &Path, lines: usize) -> String {
    let mut text = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return text;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(lines).collect();
            text.push_str(&format!(
                "--- {}\n{}\n",
                path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
    }
    text
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = strata(&["cluster", "down", "--dir", self.dir.to_str().unwrap()]);
    }
}

pub(crate) fn run_job(args: &[&str]) -> Output {
    let out = strata(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// A warehouse (a path or a URL) as text.
pub(crate) fn text(warehouse: &impl AsRef<OsStr>) -> &str {
    warehouse.as_ref().to_str().unwrap()
}

/// Compare `tables` of two warehouses (paths or `s3://` URLs) with the independent reader; returns its report and
/// success.
pub(crate) fn compare(a: impl AsRef<OsStr>, b: impl AsRef<OsStr>, tables: &[&str]) -> (bool, String) {
    let out = Command::new(python())
        .arg(repo_root().join("dev/compare_delta.py"))
        .arg(a)
        .arg(b)
        .args(tables)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
}

/// Copy a warehouse's inputs so every mode starts from the same bytes.
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn delta_log(table: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(table.join("_delta_log"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The `_delta_log` entries of warehouse table `table` (`schema.name`) of a local or `s3://` warehouse.
fn delta_log_of(warehouse: &str, table: &str) -> Vec<String> {
    let rel = table.replace('.', "/");
    if warehouse.starts_with("s3://") {
        crate::storage::S3::get().list(&format!("{warehouse}/{rel}/_delta_log"))
    } else {
        delta_log(&Path::new(warehouse).join(rel))
    }
}

/// The three engines a job runs on, in the matrix's order.
const MODES: [&str; 3] = ["embedded", "standalone", "cluster"];

#[test]
fn every_job_writes_the_same_tables_embedded_standalone_and_on_a_two_executor_cluster_on_disk_and_on_s3() {
    let root = tempfile::tempdir().unwrap();
    let s3 = crate::storage::S3::get();
    let s3_root = s3.fresh("matrix");
    // STRATA_MATRIX_ONLY=status.sql runs the cases whose file contains it (a failure's replay).
    let only = std::env::var("STRATA_MATRIX_ONLY").unwrap_or_default();
    for (n, case) in jobs().into_iter().enumerate() {
        if !case.file.contains(&only) {
            continue;
        }
        let inputs = root.path().join("inputs");
        (case.setup)(&inputs, 12, 11);
        // Every mode's warehouse starts from the same bytes, on the local disk and under an s3:// prefix.
        let mut places: Vec<(String, String)> = Vec::new();
        for mode in MODES {
            let dir = root.path().join(mode);
            // A fresh place per case: a table or ledger an earlier case left there must not mix with this one's.
            let _ = std::fs::remove_dir_all(&dir);
            copy_dir(&inputs, &dir);
            places.push((mode.to_string(), dir.display().to_string()));
        }
        for mode in MODES {
            let url = format!("{s3_root}/{n}/{mode}");
            s3.upload(&inputs, &url);
            places.push((format!("s3-{mode}"), url));
        }
        // PostgreSQL outputs: dropped before each mode with the offsets they stored (so each mode creates them and
        // reads its topic from the beginning), digested after it.
        let pg = (!case.postgres.is_empty()).then(|| crate::postgres::Pg::connect(case.database));
        let reset = || {
            if let Some(pg) = &pg {
                for t in case.postgres {
                    pg.exec(&format!("DROP TABLE IF EXISTS {t}"));
                }
                pg.exec("DROP SCHEMA IF EXISTS strata CASCADE");
            }
        };
        let digests = || -> Vec<String> {
            case.postgres
                .iter()
                .map(|t| {
                    let pg = pg.as_ref().unwrap();
                    // The rows themselves when there are few: a difference then shows where it is.
                    let rows = pg.one(&format!("SELECT count(*) FROM {t}"));
                    let shown = match rows.parse::<u32>() {
                        Ok(n) if n <= 5 => pg.one(&format!(
                            "SELECT coalesce(string_agg((to_jsonb(t) - 'id' - 'created_at')::text, ' '), '') FROM {t} t"
                        )),
                        _ => String::new(),
                    };
                    format!("{} {shown}", pg.digest_written(t)).trim_end().to_string()
                })
                .collect()
        };
        let mut pg_results = Vec::new();
        for (i, (label, wh)) in places.iter().enumerate() {
            reset();
            let engine = MODES[i % MODES.len()];
            if engine == "cluster" {
                on_a_cluster(&case, &root.path().join(format!("{label}-processes")), wh);
            } else {
                let extra: &[&str] = if engine == "standalone" { &["--standalone"] } else { &[] };
                let args = case.run_args(wh, extra);
                run_job(&args.iter().map(String::as_str).collect::<Vec<_>>());
            }
            pg_results.push(digests());
        }
        for ((label, _), digests) in places.iter().zip(&pg_results).skip(1) {
            assert_eq!(
                digests, &pg_results[0],
                "{}: PostgreSQL tables embedded vs {label}",
                case.file
            );
        }
        assert!(pg_results[0].iter().all(|d| !d.starts_with("0:")), "{pg_results:?}");
        drop(pg);

        let embedded = &places[0].1;
        for (label, wh) in &places[1..] {
            let (same, report) = compare(embedded, wh, case.tables);
            assert!(same, "{} embedded vs {label}:\n{report}", case.file);
            assert_eq!(
                report.lines().filter(|l| l.starts_with("same ")).count(),
                case.tables.len(),
                "{report}"
            );
        }

        // The comparison can fail: different inputs give different tables.
        let other = root.path().join("other");
        (case.setup)(&other, 12, 12);
        let args = case.run_args(&other, &[]);
        run_job(&args.iter().map(String::as_str).collect::<Vec<_>>());
        if !case.tables.is_empty() {
            let (same, report) = compare(embedded, &other, case.tables);
            assert!(!same && report.contains("DIFF"), "{report}");
        }
        if !case.postgres.is_empty() {
            let pg = crate::postgres::Pg::connect(case.database);
            let other: Vec<String> = case.postgres.iter().map(|t| pg.digest_written(t)).collect();
            let embedded: Vec<String> = pg_results[0]
                .iter()
                .map(|d| d.split(' ').next().unwrap_or_default().to_string())
                .collect();
            assert_ne!(other, embedded, "{}: other inputs, same PostgreSQL tables", case.file);
        }
    }
}

/// Run `case` on a two-executor cluster (its processes under `dir`) into `wh`, and check what the scheduler
/// reports and records.
fn on_a_cluster(case: &JobCase, dir: &Path, wh: &str) {
    let cluster = Cluster::up(dir, 2, wh);
    let run_id = cluster.submit_with(case.file, wh, case.params);
    let status = cluster.wait(&run_id, Duration::from_secs(300));
    assert_eq!(status["state"], "succeeded", "{status}\n{}", cluster.logs());
    // The scheduler recorded the run in the warehouse's ledger.
    let ledger = strata(&["--log-format", "json", "runs", "--warehouse", wh]);
    let recorded: serde_json::Value = serde_json::from_str(stdout(&ledger).lines().next().unwrap_or("null")).unwrap();
    assert_eq!(recorded["run_id"], run_id.as_str(), "{}", stdout(&ledger));
    assert_eq!(recorded["state"], "succeeded");
    assert_eq!(recorded["engine"], "cluster");
    if case.file.ends_with("stock_stream/ingest.sql") {
        // The submitted run reports what it read from the topic and the lag it left.
        let source = &status["sources"][0];
        assert_eq!(source["topic"], "raw-stock-data", "{status}");
        assert_eq!(source["messages"], 2000, "{status}");
        assert_eq!(source["malformed"], 20, "{status}");
        assert_eq!(source["lag"], 0, "{status}");
    }
    let delta_outputs = status["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            let location = o["location"].as_str().unwrap_or_default();
            !location.starts_with("kafka:") && !location.starts_with("postgres:")
        })
        .count();
    assert_eq!(delta_outputs, case.tables.len(), "{status}");
}

#[test]
fn cluster_survives_a_lost_executor_and_fails_clearly_when_all_are_lost() {
    lose_executors(false);
}

#[test]
fn on_s3_a_cluster_survives_a_lost_executor_and_a_failed_run_commits_nothing() {
    lose_executors(true);
}

/// Kill one executor of two mid-run (the run completes with the same tables), then the other (the run fails
/// clearly and commits nothing), with the cluster's warehouse on the local disk or on `s3://`.
fn lose_executors(on_s3: bool) {
    let root = tempfile::tempdir().unwrap();
    let inputs = root.path().join("inputs");
    generate_market(&inputs, 120, 5);
    let embedded = root.path().join("embedded");
    copy_dir(&inputs, &embedded);
    let cluster_wh = if on_s3 {
        let s3 = crate::storage::S3::get();
        let url = s3.fresh("lost-executors");
        s3.upload(&inputs, &url);
        url
    } else {
        let dir = root.path().join("cluster");
        copy_dir(&inputs, &dir);
        dir.display().to_string()
    };
    let job = "jobs/stock_market/pipeline.sql";
    run_job(&["run", job, "--no-progress", "--warehouse", embedded.to_str().unwrap()]);

    let cluster = Cluster::up(root.path(), 2, &cluster_wh);
    // Kill one executor once the first table is written and its dependents are running.
    let run_id = cluster.submit(job, &cluster_wh);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = cluster.status(&run_id);
        let stages = status["stages"].as_array().unwrap();
        if stages.iter().any(|s| s["kind"] == "table" && s["state"] == "succeeded") {
            assert!(status["state"] == "running", "the job ended before the kill: {status}");
            break;
        }
        assert!(Instant::now() < deadline && status["state"] == "running", "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.kill(cluster.executors[1]);
    let status = cluster.wait(&run_id, Duration::from_secs(300));
    assert_eq!(status["state"], "succeeded", "{status}\n{}", cluster.logs());
    let (same, report) = compare(&embedded, &cluster_wh, STOCK_TABLES);
    assert!(same, "after losing an executor:\n{report}");

    // Now lose every executor mid-run: the run fails within 60 s, says why, and no table changes.
    let logs_before: Vec<Vec<String>> = STOCK_TABLES.iter().map(|t| delta_log_of(&cluster_wh, t)).collect();
    // A full refresh: an incremental run would find nothing new and end at once.
    let run_id = cluster.submit_args(job, &cluster_wh, &["--full-refresh"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(cluster.status(&run_id)["state"], "running");
    let killed = Instant::now();
    cluster.kill(cluster.executors[0]);
    let status = cluster.wait(&run_id, Duration::from_secs(90));
    assert!(
        killed.elapsed() < Duration::from_secs(60),
        "took {:?}",
        killed.elapsed()
    );
    assert_eq!(status["state"], "failed", "{status}");
    let error = status["error"].as_str().unwrap();
    assert!(
        error.contains("executor") && error.contains("nothing was committed"),
        "{error}"
    );
    let logs_after: Vec<Vec<String>> = STOCK_TABLES.iter().map(|t| delta_log_of(&cluster_wh, t)).collect();
    assert_eq!(logs_before, logs_after, "a failed run must not commit");
    // `strata status` says why, in words.
    let out = strata(&["status", &run_id, "--scheduler", &cluster.scheduler]);
    assert!(
        stdout(&out).contains("failed") && stdout(&out).contains("no executor alive"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn cluster_commands_fail_at_once_on_bad_input() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    std::fs::create_dir_all(&wh).unwrap();

    // Nothing listens on port 1.
    let started = Instant::now();
    let out = strata(&["submit", "jobs/stock_market/pipeline.sql", "--scheduler", "127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot reach the Strata scheduler at 127.0.0.1:1"),
        "{}",
        stderr(&out)
    );
    let out = strata(&["run", "jobs/stock_market/pipeline.sql", "--cluster", "127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());

    let cluster = Cluster::up(root.path(), 1, &wh);
    let bad = root.path().join("bad.sql");
    std::fs::write(&bad, "CREATE TABLE out.t AS SELEC 1;\n").unwrap();
    let missing = root.path().join("missing.sql");
    std::fs::write(
        &missing,
        "CREATE EXTERNAL TABLE ticks STORED AS DELTA LOCATION 'bronze/nope';\nCREATE TABLE out.t AS SELECT * FROM ticks;\n",
    )
    .unwrap();
    let submit = |file: &Path| {
        #[rustfmt::skip]
        let out = strata(&["submit", file.to_str().unwrap(), "--scheduler", &cluster.scheduler, "--warehouse", wh.to_str().unwrap()]);
        assert!(!out.status.success(), "{}", stdout(&out));
        stderr(&out)
    };
    let err = submit(&bad);
    assert!(err.contains("bad.sql:1:") && err.contains("SELEC"), "{err}");
    let err = submit(&missing);
    assert!(err.contains("missing.sql:1:") && err.contains("bronze/nope"), "{err}");
    // Nothing was run or written.
    let out = strata(&["--log-format", "json", "runs", "--scheduler", &cluster.scheduler]);
    assert!(
        out.status.success() && stdout(&out).trim().is_empty(),
        "{}",
        stdout(&out)
    );
    assert!(!wh.join("out").exists());
    // An unknown run is an error too.
    let out = strata(&["status", "no-such-run", "--scheduler", &cluster.scheduler]);
    assert!(
        !out.status.success() && stderr(&out).contains("no-such-run"),
        "{}",
        stderr(&out)
    );
}
