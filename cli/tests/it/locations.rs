//! A location may name its own bucket's endpoint and region (`OPTIONS ('endpoint' …)`): with no
//! `AWS_ENDPOINT_URL` in any process's environment, the job reads its `s3://` sources embedded, in-process and on
//! a cluster whose scheduler and executors learn the settings from the job alone.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::storage::S3;
use crate::{repo_root, stderr, stdout};

/// `strata args` from the repository root with the store's endpoint removed from the environment (credentials
/// and region stay: those a location never names).
fn without_endpoint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("STRATA_WAREHOUSE")
        .env_remove("STRATA_LEDGER")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ALLOW_HTTP")
        .output()
        .unwrap()
}

/// The job over `src` (a Delta table and a CSV file), its locations with or without their own endpoint.
fn job(dir: &Path, name: &str, src: &str, settings: &str) -> String {
    let path = dir.join(name);
    let comma = if settings.is_empty() { "" } else { ", " };
    std::fs::write(
        &path,
        format!(
            "CREATE EXTERNAL TABLE bronze.market STORED AS DELTA LOCATION '{src}/market'\n\
             OPTIONS ({settings});\n\
             CREATE EXTERNAL TABLE bronze.prices (symbol VARCHAR, close DOUBLE) STORED AS CSV\n\
             LOCATION '{src}/raw/' OPTIONS ('format.has_header' 'true'{comma}{settings});\n\
             CREATE TABLE silver.sessions AS SELECT symbol, count(*) AS n FROM bronze.market GROUP BY symbol;\n\
             CREATE TABLE silver.prices AS SELECT symbol, sum(close) AS total FROM bronze.prices GROUP BY symbol;\n"
        )
        .replace("OPTIONS ();\n", ";\n"),
    )
    .unwrap();
    path.display().to_string()
}

/// `(symbol, value)` rows of `table` in the local warehouse `wh`, sorted.
fn rows(wh: &Path, table: &str, value: &str) -> Vec<(String, String)> {
    let t = crate::kafka::table(wh, table, &["symbol", value]);
    let symbols = t["columns"]["symbol"]["values"].as_array().unwrap();
    let values = t["columns"][value]["values"].as_array().unwrap();
    let mut rows: Vec<(String, String)> = symbols
        .iter()
        .zip(values)
        .map(|(s, v)| (s.as_str().unwrap().to_string(), v.to_string()))
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_location_names_its_own_endpoint_on_every_engine() {
    let s3 = S3::get();
    let endpoint = std::env::var("STRATA_S3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = s3.fresh("own-endpoint");
    #[rustfmt::skip]
    let out = crate::strata(&[
        "generate", "market", "--symbols", "2", "--start", "2024-01-01", "--end", "2024-02-29", "--seed", "4",
        "--out", &format!("{src}/market"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    s3.put(
        &format!("{src}/raw/prices.csv"),
        b"symbol,close\nAAAA,1.5\nAAAB,2.5\nAAAA,3.0\n",
    );
    let sessions = crate::kafka::table(&src, "market", &["symbol"])["rows"]
        .as_u64()
        .unwrap();
    assert!(sessions > 60, "{sessions}");

    let settings = format!("'endpoint' '{endpoint}', 'allow_http' 'true', 'region' 'us-east-1'");
    let own = job(dir.path(), "own.sql", &src, &settings);
    let check = |wh: &Path, engine: &str| {
        let counted: u64 = rows(wh, "silver.sessions", "n")
            .iter()
            .map(|(_, n)| n.parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, sessions, "{engine}");
        assert_eq!(
            rows(wh, "silver.prices", "total"),
            [
                ("AAAA".to_string(), "4.5".to_string()),
                ("AAAB".to_string(), "2.5".to_string())
            ],
            "{engine}"
        );
    };
    for (engine, extra) in [("embedded", None), ("standalone", Some("--standalone"))] {
        let wh = dir.path().join(engine);
        let mut args = vec!["run", &own, "--no-progress", "--warehouse", wh.to_str().unwrap()];
        args.extend(extra);
        let out = without_endpoint(&args);
        assert!(out.status.success(), "{engine}: {}", stderr(&out));
        check(&wh, engine);
    }

    // A cluster whose processes have no endpoint in their environment: the job's settings reach them.
    let cluster = dir.path().join("cluster");
    #[rustfmt::skip]
    let out = without_endpoint(&[
        "cluster", "up", "--executors", "2", "--port", "0", "--vcores", "1", "--dir", cluster.to_str().unwrap(),
        "--warehouse", dir.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "cluster up: {}", stderr(&out));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cluster.join("cluster.json")).unwrap()).unwrap();
    let scheduler = state["scheduler"].as_str().unwrap().to_string();
    let wh = dir.path().join("cluster-wh");
    let started = Instant::now();
    #[rustfmt::skip]
    let out = without_endpoint(&["submit", &own, "--wait", "--scheduler", &scheduler, "--warehouse", wh.to_str().unwrap()]);
    let logs = std::fs::read_dir(&cluster)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let _ = without_endpoint(&["cluster", "down", "--dir", cluster.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "cluster: {}\n{}\n{logs}",
        stdout(&out),
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(120));
    check(&wh, "cluster");

    // Without the settings the same job cannot reach the bucket, and says where.
    let plain = job(dir.path(), "plain.sql", &src, "");
    let wh = dir.path().join("plain");
    let out = without_endpoint(&["run", &plain, "--no-progress", "--warehouse", wh.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&src), "{}", stderr(&out));

    // Settings belong to object stores: on a local location they are an error at the line.
    let local = dir.path().join("local.sql");
    std::fs::write(
        &local,
        "CREATE EXTERNAL TABLE bronze.p (a INT) STORED AS CSV LOCATION '/tmp/nowhere/' OPTIONS ('region' 'x');\n\
         CREATE TABLE silver.p AS SELECT * FROM bronze.p;\n",
    )
    .unwrap();
    let out = without_endpoint(&["validate", local.to_str().unwrap(), "--warehouse", wh.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("local.sql:1") && stderr(&out).contains("is not in one"),
        "{}",
        stderr(&out)
    );
}
