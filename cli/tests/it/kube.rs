//! The Helm chart and the image, for real, without a Kubernetes API server (none can run here):
//!
//! - the chart passes `helm lint --strict`, strict schema validation of several value sets against Kubernetes 1.29
//!   and the newest bundled schema, a walk of every rendered pod that fails on anything short of Pod Security
//!   `restricted`, a missing probe or resource, a plain-text secret or a `latest` tag, and its bad value sets
//!   fail with messages naming the value (`dev/check_chart.py`);
//! - the image is built from the repository's Dockerfile on a base made locally, and what the chart renders — the
//!   scheduler, two executors and the `helm test` pod, with their command, args, env, user, read-only root,
//!   dropped capabilities and limits — runs as containers (`dev/kube_play.py`) against an S3 server, with TLS,
//!   client certificates and a login; the stock pipeline is submitted from a client container, its gold table is
//!   read over Flight SQL and compared with an embedded run, and runs survive a crashed executor and a drained
//!   (`docker stop`, SIGTERM) one with identical tables; the schedule runner runs a job of its ConfigMap.
//!
//! `dev/test.sh` installs helm and kubernetes-validate, starts dockerd and creates the network; without them these
//! tests fail and say so (they are never skipped).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::cluster::generate_market;
use crate::flight::{certificates_for, users};
use crate::submissions::client_certificate;
use crate::{python, repo_root, stderr, stdout, strata};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with dev/test.sh, which installs helm and starts dockerd")
    })
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn ok(what: &str, out: Output) -> String {
    assert!(out.status.success(), "{what}: {}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn the_chart_passes_lint_strict_schemas_the_restricted_pod_walk_and_refuses_bad_values() {
    let checker = repo_root().join("dev/check_chart.py");
    let checker = checker.to_str().unwrap();
    // The walker finds every problem planted in a bad pod (so a pass below means something).
    ok("check_chart.py --self-test", run(&python(), &[checker, "--self-test"]));
    #[rustfmt::skip]
    let out = ok("check_chart.py", run(&python(), &[
        checker, "--helm", &var("STRATA_HELM"), "--helm4", &var("STRATA_HELM4"),
        "--validate", &var("STRATA_KUBERNETES_VALIDATE"), "helm/strata",
    ]));
    #[rustfmt::skip]
    let expected = [
        "lint (helm)", "lint (helm4)", "kubernetes-validate 1.29.0 --strict", "pod security", "tests-bad/",
        "dry-run", "schema rejects", "checks passed",
    ];
    for expected in expected {
        assert!(out.contains(expected), "the checker did not report {expected}:\n{out}");
    }
}

/// An S3 server (SeaweedFS) bound to the docker network's gateway, so containers reach it.
struct GatewayS3 {
    url: String,
    pid: String,
    key: String,
    secret: String,
}

impl GatewayS3 {
    fn start(gateway: &str) -> Self {
        let script = "source dev/s3.sh && strata_s3_start >/dev/null && \
                      echo \"$STRATA_S3 $STRATA_S3_PID $STRATA_S3_KEY $STRATA_S3_SECRET\"";
        let out = Command::new("bash")
            .args(["-c", script])
            .env("STRATA_S3_HOST", gateway)
            .current_dir(repo_root())
            .output()
            .unwrap();
        let line = ok("strata_s3_start on the gateway", out);
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 4, "{line}");
        Self {
            url: parts[0].into(),
            pid: parts[1].into(),
            key: parts[2].into(),
            secret: parts[3].into(),
        }
    }

    /// `strata args` on this store.
    fn strata(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(args)
            .current_dir(repo_root())
            .env_remove("STRATA_WAREHOUSE")
            .env("AWS_ENDPOINT_URL", &self.url)
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .unwrap()
    }
}

impl Drop for GatewayS3 {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-9", &self.pid]).output();
    }
}

/// The rendered chart's pods as containers; removed on drop.
struct Pods {
    state: PathBuf,
    common: Vec<String>,
}

impl Pods {
    fn kube_play(&self, args: &[&str]) -> Output {
        let script = repo_root().join("dev/kube_play.py");
        let mut all: Vec<&str> = vec![script.to_str().unwrap()];
        all.extend_from_slice(args);
        all.extend(self.common.iter().map(String::as_str));
        run(&python(), &all)
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        let script = repo_root().join("dev/kube_play.py");
        let _ = run(
            &python(),
            &[
                script.to_str().unwrap(),
                "down",
                "--state",
                self.state.to_str().unwrap(),
            ],
        );
    }
}

fn docker(args: &[&str]) -> Output {
    run(&var("STRATA_DOCKER_CLI"), args)
}

/// Everything a client pod needs: the image, the network, the login and the client certificate.
struct Client {
    image: String,
    dir: PathBuf,
    password: String,
}

impl Client {
    /// `strata ARGS` in a container on the network, as a client pod would run it (restricted, read-only).
    fn strata(&self, args: &[&str]) -> Output {
        let client = format!("{}:/client:ro", self.dir.display());
        let jobs = format!("{}:/jobs:ro", repo_root().join("jobs").display());
        let (network, gateway) = (var("STRATA_DOCKER_NETWORK"), var("STRATA_DOCKER_GATEWAY"));
        #[rustfmt::skip]
        let mut all = vec![
            "run", "--rm", "--label", "strata.test=1", "--network", &network,
            "--dns", &gateway, "--dns-search", "strata.svc.cluster.local",
            "--user", "65532:65532", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "-v", &client, "-v", &jobs, "-e", "STRATA_FLIGHT_USER=alice", "-e", "STRATA_FLIGHT_PASSWORD",
            &self.image, "--log-format", "json",
        ];
        all.extend_from_slice(args);
        Command::new(var("STRATA_DOCKER_CLI"))
            .args(&all)
            .env("STRATA_FLIGHT_PASSWORD", &self.password)
            .output()
            .unwrap()
    }

    const TLS: [&'static str; 6] = [
        "--tls-ca",
        "/client/ca.crt",
        "--tls-client-cert",
        "/client/client.crt",
        "--tls-client-key",
        "/client/client.key",
    ];

    fn submit(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "submit",
            "/jobs/stock_market/pipeline.sql",
            "--scheduler",
            "r-strata-scheduler:50055",
        ];
        args.extend_from_slice(&Self::TLS);
        args.extend_from_slice(extra);
        let out = ok("submit from a client container", self.strata(&args));
        let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        v["run_id"].as_str().unwrap().to_string()
    }

    fn status(&self, run_id: &str) -> serde_json::Value {
        let mut args = vec!["status", run_id, "--scheduler", "r-strata-scheduler:50055"];
        args.extend_from_slice(&Self::TLS);
        let out = ok("status from a client container", self.strata(&args));
        serde_json::from_str(out.lines().last().unwrap()).unwrap()
    }

    /// Poll until the run has a stage running or done (it is mid-run), or has ended.
    fn until_started(&self, run_id: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s = self.status(run_id);
            let started = s["stages"]
                .as_array()
                .is_some_and(|st| st.iter().any(|x| x["state"] == "running" || x["state"] == "succeeded"));
            if started || s["state"] == "succeeded" || s["state"] == "failed" {
                assert_ne!(
                    s["state"], "succeeded",
                    "the run ended before anything could happen to it: {s}"
                );
                return;
            }
            assert!(Instant::now() < deadline, "the run never started: {s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait(&self, run_id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let s = self.status(run_id);
            if s["state"] == "succeeded" || s["state"] == "failed" {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} still {} after 10 min",
                s["state"]
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The gold table as CSV, read over Flight SQL from the scheduler.
    fn gold(&self) -> String {
        let mut args = vec!["query", "--server", "r-strata-scheduler:50060", "--format", "csv"];
        args.extend_from_slice(&Self::TLS);
        args.push(GOLD_QUERY);
        ok("Flight SQL query from a client container", self.strata(&args))
    }
}

/// Every column by name: the column order of `SELECT *` on a partitioned table differs between a Flight SQL server
/// on a cluster (partition column last) and an embedded query (table order), which this test does not judge.
const GOLD_QUERY: &str = "SELECT symbol, trade_date, close, sma_20, sma_50, sma_200, ema_12, ema_26, rsi_14, macd, \
                          macd_signal, macd_hist, bb_upper, bb_middle, bb_lower, atr_14, roc_10, trend_slope_20, obv, \
                          volatility_20, vwap_20, rs_20, sma_cross, year FROM gold.daily_indicators \
                          ORDER BY symbol, trade_date";

/// The values of the release under test: TLS with client certificates, a login, the gateway's S3, two executors,
/// and the schedule runner with a job due every minute.
fn values(dir: &Path, s3: &GatewayS3, warehouse: &str) -> PathBuf {
    let path = dir.join("values.yaml");
    let text = format!(
        "config:\n  warehouse: {warehouse}\n  logLevel: info\n\
         objectStore:\n  endpoint: {endpoint}\n  region: us-east-1\n  allowHttp: true\n  existingSecret: strata-s3\n\
         auth:\n  existingSecret: strata-users\n\
         tls:\n  enabled: true\n  existingSecret: strata-tls\n  clientAuth: true\n\
         tests:\n  existingSecret: strata-users\n  clientTlsSecret: strata-test-client-tls\n\
         executor:\n  replicas: 2\n  vcores: 2\n  drainTimeoutSeconds: 60\n\
         \x20 resources:\n    requests: {{cpu: 500m, memory: 1Gi}}\n    limits: {{cpu: '1', memory: 3Gi}}\n\
         schedule:\n  enabled: true\n  jobs:\n    minutely.sql: |\n\
         \x20     --! schedule '* * * * *'\n\
         \x20     CREATE TABLE smoke.scheduled AS SELECT 1 AS one;\n",
        endpoint = s3.url,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The Secrets the release names, as `kube_play` reads them: `DIR/<secret>/<key>`.
fn secrets(dir: &Path, s3: &GatewayS3, tls: &Path) -> PathBuf {
    let root = dir.join("secrets");
    let put = |secret: &str, key: &str, value: &[u8]| {
        std::fs::create_dir_all(root.join(secret)).unwrap();
        std::fs::write(root.join(secret).join(key), value).unwrap();
    };
    put("strata-s3", "AWS_ACCESS_KEY_ID", s3.key.as_bytes());
    put("strata-s3", "AWS_SECRET_ACCESS_KEY", s3.secret.as_bytes());
    put("strata-users", "users", &std::fs::read(users(dir)).unwrap());
    put("strata-users", "user", b"alice");
    put("strata-users", "password", b"wonder land");
    for (file, key) in [
        ("server.crt", "tls.crt"),
        ("server.key", "tls.key"),
        ("ca.crt", "ca.crt"),
    ] {
        put("strata-tls", key, &std::fs::read(tls.join(file)).unwrap());
    }
    for (file, key) in [("client.crt", "tls.crt"), ("client.key", "tls.key")] {
        put("strata-test-client-tls", key, &std::fs::read(tls.join(file)).unwrap());
    }
    root
}

/// Whether two CSV results hold the same rows: equal text, or numbers equal to 1e-12 relative (as dev/compare_delta.py) (a sum over many rows
/// may differ in its last bits with the order a cluster adds in); on a difference, the first differing line.
fn same_rows(actual: &str, expected: &str) -> Result<(), String> {
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    if a.len() != e.len() {
        return Err(format!("{} lines, expected {}", a.len(), e.len()));
    }
    let close = |x: &str, y: &str| match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => x == y,
    };
    for (i, (la, le)) in a.iter().zip(&e).enumerate() {
        let (fa, fe): (Vec<&str>, Vec<&str>) = (la.split(',').collect(), le.split(',').collect());
        if fa.len() != fe.len() || !fa.iter().zip(&fe).all(|(x, y)| close(x, y)) {
            return Err(format!("line {}:\n  got      {la}\n  expected {le}", i + 1));
        }
    }
    Ok(())
}

fn inspect(container: &str, format: &str) -> String {
    ok("docker inspect", docker(&["inspect", "-f", format, container]))
        .trim()
        .to_string()
}

#[test]
fn the_rendered_chart_runs_as_containers_and_survives_a_crashed_and_a_drained_executor() {
    let (network, subnet, gateway) = (
        var("STRATA_DOCKER_NETWORK"),
        var("STRATA_DOCKER_SUBNET"),
        var("STRATA_DOCKER_GATEWAY"),
    );
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    // The image, from the repository's Dockerfile on a locally made base.
    let built = Command::new("bash")
        .args([
            "-c",
            &format!(
                "source dev/docker.sh && strata_docker_image {} strata:kube-test",
                env!("CARGO_BIN_EXE_strata")
            ),
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let built = ok("strata_docker_image", built);
    let size: u64 = built.split_whitespace().nth(1).unwrap().parse().unwrap();
    println!("image strata:kube-test: {} MB", size / 1_000_000);
    let user = inspect("strata:kube-test", "{{.Config.User}} {{json .Config.Entrypoint}}");
    assert_eq!(user, "65532:65532 [\"strata\"]");

    // The store the pods share, certificates, the Secrets and the rendered release.
    let s3 = GatewayS3::start(&gateway);
    let prefix = format!("kube-{}", crate::test_seed());
    let warehouse = format!("s3://strata/{prefix}/wh");
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let san = "DNS:r-strata-scheduler,DNS:r-strata-scheduler.strata,DNS:r-strata-scheduler.strata.svc,\
               DNS:r-strata-scheduler.strata.svc.cluster.local";
    certificates_for(&tls, san);
    client_certificate(&tls);
    let secrets = secrets(dir, &s3, &tls);
    let values = values(dir, &s3, &warehouse);
    #[rustfmt::skip]
    let rendered = ok("helm template", run(&var("STRATA_HELM"), &[
        "template", "r", "helm/strata", "--namespace", "strata", "-f", values.to_str().unwrap(),
    ]));
    let manifests = dir.join("rendered.yaml");
    std::fs::write(&manifests, &rendered).unwrap();

    // The rendered scheduler and executors, as containers.
    let state = dir.join("state.json");
    #[rustfmt::skip]
    let pods = Pods {
        state: state.clone(),
        common: [
            "--manifests", manifests.to_str().unwrap(), "--network", &network, "--subnet", &subnet,
            "--image-map", "strata:0.1.0=strata:kube-test", "--secrets-dir", secrets.to_str().unwrap(),
            "--state", state.to_str().unwrap(), "--namespace", "strata", "--timeout", "180",
        ].iter().map(|s| s.to_string()).collect(),
    };
    ok(
        "kube_play up",
        pods.kube_play(&["up", "--only", "scheduler,executor,schedule"]),
    );
    for pod in [
        "r-strata-scheduler-0",
        "r-strata-executor-0",
        "r-strata-executor-1",
        "r-strata-schedule-0",
    ] {
        let settings = inspect(
            pod,
            "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} \
             {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
        );
        let parts: Vec<&str> = settings.split(' ').collect();
        assert_eq!(
            parts[..4],
            ["65532:65532", "true", "[ALL]", "[no-new-privileges]"],
            "{pod}: {settings}"
        );
        let limits: Vec<i64> = parts[4..].iter().map(|n| n.parse().unwrap()).collect();
        assert!(
            limits.len() == 2 && limits.iter().all(|n| *n > 0),
            "{pod} runs without limits: {settings}"
        );
    }
    let args = inspect("r-strata-executor-0", "{{json .Args}}");
    assert!(
        args.contains("--drain-timeout=60") && args.contains("--http-bind=0.0.0.0:8081"),
        "{args}"
    );

    // `helm test`: a Flight SQL query and a tiny job, from the restricted test pod.
    ok(
        "helm test pod",
        pods.kube_play(&["run-test", "--name", "r-strata-test"]),
    );

    // Data in the store, and the tables an embedded run makes of the same data.
    #[rustfmt::skip]
    let out = s3.strata(&[
        "generate", "market", "--symbols", "12", "--start", "2016-01-01", "--end", "2024-12-31", "--seed", "23",
        "--defect-rate", "0.01", "--out", &format!("{warehouse}/bronze/market_daily"),
    ]);
    ok("generate into the store", out);
    let embedded = dir.join("embedded");
    generate_market(&embedded, 12, 23);
    crate::run_stock_embedded(&embedded);
    let expected = ok(
        "embedded query",
        strata(&[
            "query",
            "--warehouse",
            embedded.to_str().unwrap(),
            "--format",
            "csv",
            GOLD_QUERY,
        ]),
    );
    assert!(
        expected.lines().count() > 1000,
        "too few rows to mean anything: {}",
        expected.lines().count()
    );

    // A client pod: submit over TLS with a login and a client certificate, read the gold table over Flight SQL.
    let client_dir = dir.join("client");
    std::fs::create_dir_all(&client_dir).unwrap();
    for file in ["ca.crt", "client.crt", "client.key"] {
        std::fs::copy(tls.join(file), client_dir.join(file)).unwrap();
    }
    // The client runs as uid 65532: it must be able to read what is mounted.
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(&client_dir).unwrap() {
        std::fs::set_permissions(entry.unwrap().path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(&client_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let client = Client {
        image: "strata:kube-test".into(),
        dir: client_dir,
        password: "wonder land".into(),
    };
    let first = client.submit(&[]);
    let end = client.wait(&first);
    assert_eq!(end["state"], "succeeded", "{end}");
    same_rows(&client.gold(), &expected).expect("the cluster's gold table is the embedded run's");

    // An executor crashes mid-run (its process killed; the kubelet — here Docker — restarts the container).
    let crashed = client.submit(&["--full-refresh"]);
    client.until_started(&crashed);
    let pid = inspect("r-strata-executor-0", "{{.State.Pid}}");
    ok("kill -9 the executor", run("kill", &["-9", &pid]));
    let end = client.wait(&crashed);
    assert_eq!(end["state"], "succeeded", "{end}");
    same_rows(&client.gold(), &expected).expect("after a crashed executor");
    let restarts = inspect("r-strata-executor-0", "{{.RestartCount}}");
    assert_ne!(restarts, "0", "the crashed executor was not restarted");

    // An executor is stopped mid-run (SIGTERM, as for a rollout or a node drain): it drains and exits 0.
    let drained = client.submit(&["--full-refresh"]);
    client.until_started(&drained);
    ok("docker stop", docker(&["stop", "-t", "90", "r-strata-executor-1"]));
    assert_eq!(
        inspect("r-strata-executor-1", "{{.State.ExitCode}}"),
        "0",
        "the drained executor's exit"
    );
    let logs = docker(&["logs", "r-strata-executor-1"]);
    assert!(stderr(&logs).contains("executor drained and stopped") || stdout(&logs).contains("executor drained"));
    let end = client.wait(&drained);
    assert_eq!(end["state"], "succeeded", "{end}");
    same_rows(&client.gold(), &expected).expect("after a drained executor");

    // The schedule runner ran its minutely job from the ConfigMap on the cluster, into the store.
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut args = vec!["query", "--server", "r-strata-scheduler:50060", "--format", "csv"];
    args.extend_from_slice(&Client::TLS);
    args.push("SELECT one FROM smoke.scheduled");
    loop {
        let out = client.strata(&args);
        if out.status.success() && stdout(&out) == "one\n1\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled run committed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    drop(pods);
}
