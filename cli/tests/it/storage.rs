//! Warehouses on an S3-compatible store (SeaweedFS on loopback, started by `dev/test.sh`): concurrent commits
//! lose nothing, optimize and vacuum keep every row, and bad locations or credentials fail by name, write nothing and never show a secret. The mode
//! matrix on `s3://` is in `cluster.rs`.

use std::path::Path;
use std::process::{Command, Output};

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::*;

/// The test store: its endpoint and credentials come from `dev/s3.sh` (`STRATA_S3`, `AWS_*`).
pub struct S3 {
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
}

/// The bucket tests write to.
pub const BUCKET: &str = "strata";

impl S3 {
    pub fn get() -> Self {
        assert!(
            std::env::var("STRATA_S3").is_ok_and(|s| !s.is_empty()),
            "STRATA_S3 is not set: run the suite with dev/test.sh, which starts the S3-compatible store"
        );
        let store = AmazonS3Builder::from_env().with_bucket_name(BUCKET).build().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self { store, runtime }
    }

    /// A fresh `s3://strata/<name>-<unique>` prefix, as a warehouse URL.
    pub fn fresh(&self, name: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("s3://{BUCKET}/{name}-{}-{nanos}", std::process::id())
    }

    /// Copy the local directory tree `dir` under the `s3://strata/…` prefix `url`.
    pub fn upload(&self, dir: &Path, url: &str) {
        let prefix = key(url);
        let mut files = Vec::new();
        walk(dir, &mut files);
        self.runtime.block_on(async {
            for file in files {
                let rel = file.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                let bytes = std::fs::read(&file).unwrap();
                let path = StorePath::from(format!("{prefix}/{rel}"));
                self.store.put(&path, PutPayload::from(bytes)).await.unwrap();
            }
        });
    }

    /// Write `bytes` as the object at `url`.
    pub fn put(&self, url: &str, bytes: &[u8]) {
        let path = StorePath::from(key(url));
        self.runtime
            .block_on(self.store.put(&path, PutPayload::from(bytes.to_vec())))
            .unwrap();
    }

    /// Every object key under the prefix `url`.
    pub fn list(&self, url: &str) -> Vec<String> {
        use futures::StreamExt;
        let prefix = StorePath::from(key(url));
        self.runtime.block_on(async {
            let mut keys: Vec<String> = self
                .store
                .list(Some(&prefix))
                .map(|m| m.unwrap().location.to_string())
                .collect()
                .await;
            keys.sort();
            keys
        })
    }
}

/// The key prefix of an `s3://strata/…` URL.
fn key(url: &str) -> String {
    url.strip_prefix(&format!("s3://{BUCKET}/"))
        .unwrap_or_else(|| panic!("{url} is not in s3://{BUCKET}/"))
        .trim_end_matches('/')
        .to_string()
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// `strata args` with extra environment (e.g. wrong credentials), from `cwd`.
fn strata_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(cwd)
        .env_remove("STRATA_WAREHOUSE")
        .env_remove("STRATA_LEDGER")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn generate_args(out: &str) -> Vec<&str> {
    #[rustfmt::skip]
    let args = vec![
        "generate", "market", "--symbols", "3", "--start", "2024-01-01", "--end", "2024-03-31", "--seed", "7",
        "--out", out,
    ];
    args
}

/// A command that must fail: its arguments, extra environment, the location its error names and what it says.
type Refusal<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[test]
fn unsupported_or_unusable_locations_fail_by_name_write_nothing_and_show_no_secret() {
    let s3 = S3::get();
    // From an empty working directory: a URL taken for a relative path would show up here as a folder `s3:`.
    let cwd = tempfile::tempdir().unwrap();
    let job = repo_root().join("jobs/stock_market/pipeline.sql");
    let job = job.to_str().unwrap();
    let jobs = repo_root().join("jobs").display().to_string();
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    let wh = s3.fresh("refused");
    let bronze = format!("{wh}/bronze/market_daily");
    let unreachable = "http://127.0.0.1:9";
    #[rustfmt::skip]
    let cases: Vec<Refusal> = vec![
        (vec!["run", job, "--warehouse", "hdfs://nn:8020/wh"], vec![], "hdfs://nn:8020/wh", "'hdfs://' is not a supported store"),
        (vec!["validate", job, "--warehouse", "wasbs://lake/wh"], vec![], "wasbs://lake/wh", "'wasbs://' is not a supported store"),
        (vec!["explain", job, "--warehouse", "ftp://host/wh"], vec![], "ftp://host/wh", "'ftp://' is not a supported store"),
        (generate_args("hdfs://nn/wh/bronze/market_daily"), vec![], "hdfs://nn/wh/bronze/market_daily", "not a supported store"),
        (vec!["schedule", &jobs, "--once", "--warehouse", "s3://strata/wh"], vec![], "s3://strata/wh", "must be a local directory"),
        (vec!["run", job, "--warehouse", "s3://AKIAEXAMPLE:hunter2@strata/wh"], vec![], "s3://strata/wh", "credentials do not belong"),
        // The store itself refuses: a missing bucket, a wrong secret, nobody listening at the endpoint.
        (generate_args("s3://no-such-bucket/wh/bronze/market_daily"), vec![], "s3://no-such-bucket/wh/bronze/market_daily", "NoSuchBucket"),
        (generate_args(&bronze), vec![("AWS_SECRET_ACCESS_KEY", "not-the-secret")], &bronze, "Delta table"),
        (generate_args(&bronze), vec![("AWS_ENDPOINT_URL", unreachable)], &bronze, "Delta table"),
        (vec!["run", job, "--warehouse", &wh], vec![("AWS_SECRET_ACCESS_KEY", "not-the-secret")], &wh, "bronze/market_daily"),
    ];
    for (args, env, location, says) in cases {
        let started = std::time::Instant::now();
        let out = strata_in(cwd.path(), &args, &env);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(err.contains(location) && err.contains(says), "{args:?} {env:?}: {err}");
        for hidden in [secret.as_str(), "hunter2", "not-the-secret"] {
            assert!(
                !err.contains(hidden) && !stdout(&out).contains(hidden),
                "{args:?} shows a secret: {err}"
            );
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing may be written locally: {left:?}");
    assert_eq!(
        s3.list(&wh),
        Vec::<String>::new(),
        "nothing may be written to the store"
    );
}

#[test]
fn a_credential_in_a_job_file_is_refused_at_planning_without_showing_it() {
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let wh = s3.fresh("secret-option");
    let job = dir.path().join("leak.sql");
    std::fs::write(
        &job,
        "CREATE EXTERNAL TABLE bronze.prices (symbol VARCHAR, close DOUBLE)\n\
         STORED AS PARQUET LOCATION 's3://strata/prices/'\n\
         OPTIONS ('aws_secret_access_key' 'SuperSecret123');\n\
         CREATE TABLE silver.prices AS SELECT * FROM bronze.prices;\n",
    )
    .unwrap();
    for command in ["validate", "explain", "run"] {
        let out = strata_in(dir.path(), &[command, job.to_str().unwrap(), "--warehouse", &wh], &[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{command} must fail");
        assert!(
            err.contains("leak.sql:1") && err.contains("'aws_secret_access_key'") && err.contains("is a credential"),
            "{command}: {err}"
        );
        assert!(
            !err.contains("SuperSecret123") && !stdout(&out).contains("SuperSecret123"),
            "{err}"
        );
    }
    assert_eq!(s3.list(&wh), Vec::<String>::new(), "a refused job writes nothing");
}

/// A job appending one row `(writer, n)` to `bronze.events` (parameters `writer` and `n`), written into `dir`.
pub(crate) fn append_job(dir: &Path) -> String {
    let job = dir.join("append.sql");
    std::fs::write(
        &job,
        "INSERT INTO bronze.events SELECT CAST(${writer} AS BIGINT) AS writer, CAST(${n} AS BIGINT) AS n;\n",
    )
    .unwrap();
    job.display().to_string()
}

#[test]
fn four_writers_appending_at_once_to_one_s3_table_lose_no_commit() {
    const WRITERS: usize = 4;
    const APPENDS: usize = 25;
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let wh = s3.fresh("concurrent");
    let job = append_job(dir.path());
    let append = |writer: usize, n: usize| {
        let (w, n) = (format!("writer={writer}"), format!("n={n}"));
        strata_in(
            Path::new("/"),
            &[
                "run",
                &job,
                "--no-progress",
                "--warehouse",
                &wh,
                "--param",
                &w,
                "--param",
                &n,
            ],
            &[],
        )
    };
    // The table's first version, then WRITERS processes appending APPENDS rows each, all at once.
    let out = append(WRITERS, 0);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let append = &append;
                scope.spawn(move || {
                    for n in 0..APPENDS {
                        let out = append(w, n);
                        assert!(out.status.success(), "writer {w} append {n}: {}", stderr(&out));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let table = format!("{wh}/bronze/events");
    let out = Command::new(python())
        .arg(repo_root().join("dev/check_table.py"))
        .args([table.as_str(), "writer", "n"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(report["version"], (WRITERS * APPENDS) as u64, "{report}");
    assert_eq!(report["rows"], (WRITERS * APPENDS + 1) as u64, "{report}");
    let values = |c: &str| report["columns"][c]["values"].as_array().unwrap().clone();
    let pairs: std::collections::BTreeSet<(i64, i64)> = values("writer")
        .iter()
        .zip(values("n"))
        .map(|(w, n)| (w.as_i64().unwrap(), n.as_i64().unwrap()))
        .collect();
    assert_eq!(pairs.len(), WRITERS * APPENDS + 1, "every append's row, once");
    // Every run is in the ledger too (its appends raced as well): started and succeeded for each.
    let ledger = strata(&["--log-format", "json", "runs", "--limit", "0", "--warehouse", &wh]);
    let runs = stdout(&ledger).lines().filter(|l| l.contains("\"succeeded\"")).count();
    assert_eq!(runs, WRITERS * APPENDS + 1, "{}", stdout(&ledger));
}

/// The independent reader's facts about `table` (latest version, or `version`).
fn check_table(table: &str, version: Option<u64>, columns: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("dev/check_table.py")).arg(table);
    if let Some(v) = version {
        cmd.args(["--version", &v.to_string()]);
    }
    let out = cmd.args(columns).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

fn strings(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Optimize and vacuum on a local and an `s3://` table of many small files: same rows, fewer files, a reader that
/// pinned the old version before the optimize still reads it, and vacuum deletes exactly the files no version
/// needs (the compacted ones and a failed stage's stray file), nothing else.
#[test]
fn optimize_then_vacuum_keep_the_rows_shrink_the_files_and_spare_a_pinned_reader() {
    const APPENDS: u64 = 12;
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("append.sql");
    std::fs::write(
        &job,
        "INSERT INTO bronze.events SELECT CAST(${n} AS BIGINT) AS n, 'AAPL' AS symbol;\n",
    )
    .unwrap();
    let job = job.to_str().unwrap();
    let local = dir.path().join("wh").display().to_string();
    for wh in [local, s3.fresh("maintain")] {
        for n in 0..APPENDS {
            let out = strata_in(
                dir.path(),
                &[
                    "run",
                    job,
                    "--no-progress",
                    "--warehouse",
                    &wh,
                    "--param",
                    &format!("n={n}"),
                ],
                &[],
            );
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let table = format!("{wh}/bronze/events");
        let before = check_table(&table, None, &["n"]);
        assert_eq!(before["version"], APPENDS - 1, "{before}");
        let old_files = strings(&before["files"]);
        assert_eq!(old_files.len() as u64, APPENDS, "{before}");
        // A stage that failed left a data file no version references.
        let stray = "part-00000-from-a-failed-stage.snappy.parquet";
        match wh.strip_prefix("s3://") {
            Some(_) => s3.put(&format!("{table}/{stray}"), b"PAR1 not a real file"),
            None => std::fs::write(format!("{table}/{stray}"), b"PAR1 not a real file").unwrap(),
        }

        // A reader pins the current version, then reads it while and after the table is optimized.
        let mut reader = Command::new(python())
            .arg("-c")
            .arg(PINNED_READER)
            .arg(&table)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(reader.stdout.take().unwrap()));
        assert_eq!(lines.next().unwrap().unwrap(), "pinned");
        let out = strata_in(
            dir.path(),
            &[
                "--log-format",
                "json",
                "optimize",
                "bronze.events",
                "--zorder-by",
                "symbol",
                "--warehouse",
                &wh,
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let optimized: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        assert_eq!(optimized["optimized"]["files_before"], APPENDS, "{optimized}");
        assert_eq!(optimized["optimized"]["files_after"], 1, "{optimized}");
        std::io::Write::write_all(reader.stdin.as_mut().unwrap(), b"read\n").unwrap();
        let pinned = lines.next().unwrap().unwrap();
        assert!(reader.wait().unwrap().success());
        assert_eq!(pinned, format!("{} rows of version {}", APPENDS, APPENDS - 1));

        let after = check_table(&table, None, &["n"]);
        assert_eq!(after["version"], APPENDS, "one commit: {after}");
        let mut ns: Vec<i64> = after["columns"]["n"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        ns.sort();
        assert_eq!(ns, (0..APPENDS as i64).collect::<Vec<_>>(), "the same rows");
        let new_files = strings(&after["files"]);

        // The default retention keeps everything; a forced zero retention deletes exactly what no version needs.
        let out = strata_in(
            dir.path(),
            &["vacuum", "bronze.events", "--retain", "0", "--warehouse", &wh],
            &[],
        );
        assert!(
            !out.status.success() && stderr(&out).contains("--force"),
            "{}",
            stderr(&out)
        );
        let out = strata_in(
            dir.path(),
            &[
                "--log-format",
                "json",
                "vacuum",
                "bronze.events",
                "--retain",
                "0",
                "--force",
                "--warehouse",
                &wh,
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let vacuumed: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
        let deleted = strings(&vacuumed["vacuumed"]["files_deleted"]);
        let mut expected: std::collections::BTreeSet<String> = old_files.difference(&new_files).cloned().collect();
        expected.insert(stray.to_string());
        assert_eq!(deleted, expected, "vacuum deletes exactly the unreferenced files");
        let rows = check_table(&table, None, &[]);
        assert_eq!(rows["rows"], APPENDS, "{rows}");
        assert_eq!(strings(&rows["files"]), new_files);
    }
}

/// Pin the table's latest version, say so, wait for a line on stdin, then read that version's rows.
const PINNED_READER: &str = r#"
import os, sys
import deltalake
table = deltalake.DeltaTable(sys.argv[1])
print("pinned", flush=True)
sys.stdin.readline()
print(f"{table.to_pyarrow_table().num_rows} rows of version {table.version()}", flush=True)
os._exit(0)
"#;

/// `--! optimize` / `--! vacuum` in a job file: checked at planning, carried out after a successful run's commits
/// (a refused vacuum is reported and leaves the run succeeded), on an `s3://` warehouse.
#[test]
fn a_job_file_asks_for_maintenance_after_its_commits() {
    let s3 = S3::get();
    let dir = tempfile::tempdir().unwrap();
    let wh = s3.fresh("directives");
    let job = dir.path().join("compact.sql");
    std::fs::write(
        &job,
        "--! optimize bronze.events zorder by symbol\n\
         INSERT INTO bronze.events SELECT CAST(${n} AS BIGINT) AS n, 'AAPL' AS symbol;\n\
         --! vacuum bronze.events retain 0\n",
    )
    .unwrap();
    let job = job.to_str().unwrap();
    let mut last = serde_json::Value::Null;
    for n in 0..4 {
        #[rustfmt::skip]
        let out = strata_in(dir.path(), &["--log-format", "json", "run", job, "--no-progress", "--warehouse", &wh, "--param", &format!("n={n}")], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        last = serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    }
    let maintenance = &last["maintenance"];
    assert_eq!(maintenance[0]["action"], "optimize", "{last}");
    assert_eq!(maintenance[0]["failed"], false, "{last}");
    // Each run appended one file and compacted the table again: two files before, one after.
    assert!(
        maintenance[0]["outcome"].as_str().unwrap().starts_with("2 files -> 1"),
        "{last}"
    );
    assert_eq!(maintenance[1]["action"], "vacuum");
    assert_eq!(
        maintenance[1]["failed"], true,
        "a job never forces a short retention: {last}"
    );
    assert!(
        maintenance[1]["outcome"].as_str().unwrap().contains("--force"),
        "{last}"
    );
    let table = check_table(&format!("{wh}/bronze/events"), None, &["n"]);
    assert_eq!(
        (table["rows"].as_u64(), table["files"].as_array().unwrap().len()),
        (Some(4), 1),
        "{table}"
    );

    // A directive naming a table the job does not write fails planning at its line.
    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        "INSERT INTO bronze.events SELECT 1 AS n, 'X' AS symbol;\n--! optimize silver.nothing\n",
    )
    .unwrap();
    let out = strata_in(
        dir.path(),
        &["validate", bad.to_str().unwrap(), "--warehouse", &wh],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("bad.sql:2:1")
            && stderr(&out).contains("--! optimize silver.nothing: the job writes no Delta table"),
        "{}",
        stderr(&out)
    );
}
