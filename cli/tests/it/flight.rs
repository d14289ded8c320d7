//! Arrow Flight SQL with real third-party clients: ADBC's Flight SQL driver and pyarrow.flight (from PyPI, driven
//! by `flight_client.py`) against `strata serve` over TLS with a users file, and `strata query --server` against
//! both `strata serve` and a scheduler started with `--flight-bind`. Results must equal what the embedded engine
//! computes (`strata query --warehouse`); wrong credentials, forged tickets and writes must be refused. The
//! scheduler runs the queries on its executors.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::lifecycle::Daemon;
use crate::{python, repo_root, stderr, stdout, strata};

const QUERY: &str = "SELECT * FROM gold.daily_indicators WHERE symbol = ? ORDER BY trade_date";

/// A `strata` server process, killed when dropped.
struct Server {
    /// Its Flight SQL address.
    addr: String,
    /// A scheduler's own address.
    scheduler: String,
    /// The process and its stderr (logs).
    daemon: Daemon,
}

/// Start `strata ARGS` and wait for its "Flight SQL listening on ADDR" line.
fn start(args: &[&str]) -> Server {
    let daemon = Daemon::start(args, &[], &["Flight SQL"]);
    Server {
        addr: daemon.addr("Flight SQL").to_string(),
        scheduler: daemon.listening.get("Scheduler").cloned().unwrap_or_default(),
        daemon,
    }
}

/// A warehouse with the stock pipeline's tables (3 symbols, one year) and its ledger.
fn warehouse(dir: &Path) -> PathBuf {
    let wh = dir.join("wh");
    let market = wh.join("bronze/market_daily");
    #[rustfmt::skip]
    let out = strata(&[
        "generate", "market", "--symbols", "3", "--start", "2023-01-01", "--end", "2023-12-31", "--seed", "9",
        "--out", market.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    crate::run_stock_embedded(&wh);
    wh
}

/// A throwaway certificate authority and a server certificate for 127.0.0.1 / localhost: (ca, cert, key).
pub(crate) fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    certificates_for(dir, "IP:127.0.0.1,DNS:localhost")
}

/// [`certificates`] for the subject alternative names `san` (`IP:…,DNS:…`).
pub(crate) fn certificates_for(dir: &Path, san: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let s = |path: PathBuf| path.to_str().unwrap().to_string();
    #[rustfmt::skip]
    openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=strata flight test CA",
        "-keyout", &s(p("ca.key")), "-out", &s(p("ca.crt"))]);
    #[rustfmt::skip]
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", &s(p("server.key")),
        "-out", &s(p("server.csr"))]);
    std::fs::write(p("san.ext"), format!("subjectAltName={san}\n")).unwrap();
    #[rustfmt::skip]
    openssl(&["x509", "-req", "-in", &s(p("server.csr")), "-CA", &s(p("ca.crt")), "-CAkey", &s(p("ca.key")),
        "-CAcreateserial", "-days", "2", "-extfile", &s(p("san.ext")), "-out", &s(p("server.crt"))]);
    (p("ca.crt"), p("server.crt"), p("server.key"))
}

/// A users file for alice and bob (through `strata passwd`).
pub(crate) fn users(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for (user, password) in [("alice", "wonder land"), ("bob", "hunter2")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["passwd", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let line = stdout(&out);
        assert!(!line.contains(password), "the users file holds the password");
        text.push_str(&line);
    }
    let path = dir.join("users");
    std::fs::write(&path, text).unwrap();
    path
}

fn client(server: &Server, ca: &Path, mode: &str, extra: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(repo_root().join("cli/tests/it/flight_client.py"))
        .args([&server.addr, mode, "--user", "alice", "--password", "wonder land"])
        .args(["--ca", ca.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "flight_client.py {mode}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap()
}

/// Whether two Arrow IPC files (file or stream format) hold equal tables, by the independent reader.
fn same_arrow(a: &Path, b: &Path) -> Result<usize, String> {
    let script = r#"
import sys, pyarrow as pa, pyarrow.ipc as ipc
def read(p):
    try:
        return ipc.open_file(p).read_all()
    except pa.ArrowInvalid:
        return ipc.open_stream(p).read_all()
a, b = read(sys.argv[1]), read(sys.argv[2])
if not a.equals(b):
    sys.exit(f"differ: {a.schema} {a.num_rows} rows vs {b.schema} {b.num_rows} rows")
print(a.num_rows)
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(stdout(&out).trim().parse().unwrap())
    } else {
        Err(stderr(&out))
    }
}

#[test]
fn adbc_and_pyarrow_read_what_the_embedded_engine_computes_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let wh = warehouse(dir.path());
    let (ca, cert, key) = certificates(dir.path());
    let users = users(dir.path());
    #[rustfmt::skip]
    let server = start(&[
        "serve", "--warehouse", wh.to_str().unwrap(), "--bind", "127.0.0.1:0", "--users", users.to_str().unwrap(),
        "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(),
    ]);

    // Metadata: the catalog, the pipeline's tables, the ledger.
    let meta = client(&server, &ca, "metadata", &[]);
    let tables = meta["tables"].as_object().unwrap();
    for t in [
        "gold.daily_indicators",
        "silver.daily_bars",
        "silver.bars_21d",
        "bronze.market_daily",
        "_strata.runs",
    ] {
        assert!(tables.contains_key(t), "{t} not listed: {:?}", tables.keys());
    }

    // A parameterized query through ADBC equals the embedded engine's rows.
    let remote = dir.path().join("remote.arrow");
    let q = client(
        &server,
        &ca,
        "query",
        &["--symbol", "AAAA", "--out", remote.to_str().unwrap()],
    );
    assert!(q["rows"].as_u64().unwrap() > 200, "{q}");
    let out = strata(&[
        "query",
        QUERY,
        "--warehouse",
        wh.to_str().unwrap(),
        "--param",
        "AAAA",
        "--format",
        "arrow",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let local = dir.path().join("local.arrow");
    std::fs::write(&local, &out.stdout).unwrap();
    let rows = same_arrow(&remote, &local).unwrap_or_else(|e| panic!("ADBC and embedded results differ: {e}"));
    assert_eq!(rows as u64, q["rows"].as_u64().unwrap());

    // `strata query --server` over TLS prints the same CSV as the embedded engine.
    let last = strata(&[
        "query",
        "SELECT max(symbol) AS s FROM gold.daily_indicators",
        "--warehouse",
        wh.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    let last = stdout(&last).lines().nth(1).unwrap().to_string();
    assert_ne!(last, "AAAA");
    let password = dir.path().join("password");
    std::fs::write(&password, "wonder land\n").unwrap();
    #[rustfmt::skip]
    let remote_csv = strata(&[
        "query", QUERY, "--server", &server.addr, "--user", "alice", "--password-file", password.to_str().unwrap(),
        "--tls-ca", ca.to_str().unwrap(), "--param", &last, "--format", "csv",
    ]);
    assert!(remote_csv.status.success(), "{}", stderr(&remote_csv));
    #[rustfmt::skip]
    let local_csv = strata(&[
        "query", QUERY, "--warehouse", wh.to_str().unwrap(), "--param", &last, "--format", "csv",
    ]);
    assert!(local_csv.status.success(), "{}", stderr(&local_csv));
    assert!(stdout(&local_csv).lines().count() > 200);
    assert_eq!(stdout(&remote_csv), stdout(&local_csv));

    // Wrong or missing credentials: Unauthenticated (ADBC and pyarrow); forged, reused, token-less and other
    // users' tickets: refused; writes: refused, nothing written.
    client(&server, &ca, "bad-auth", &["--password", "wrong"]);
    client(&server, &ca, "doget", &["--user2", "bob", "--password2", "hunter2"]);
    let refused = client(&server, &ca, "read-only", &[]);
    assert_eq!(refused["refused"].as_object().unwrap().len(), 5, "{refused}");
    assert!(!wh.join("gold/strata_flight_probe").exists());
    std::fs::write(&password, "not it\n").unwrap();
    #[rustfmt::skip]
    let denied = strata(&[
        "query", "SELECT 1", "--server", &server.addr, "--user", "alice", "--password-file",
        password.to_str().unwrap(), "--tls-ca", ca.to_str().unwrap(),
    ]);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("invalid user name or password"),
        "{}",
        stderr(&denied)
    );
    // Without the CA the client does not trust the server.
    let untrusted = strata(&["query", "SELECT 1", "--server", &server.addr, "--user", "alice"]);
    assert!(!untrusted.status.success());
}

#[test]
fn the_scheduler_serves_flight_sql_and_insecure_needs_asking_for() {
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    // Nothing unauthenticated unless asked for.
    let refused = strata(&["serve", "--warehouse", wh.to_str().unwrap(), "--bind", "127.0.0.1:0"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("users file is required"),
        "{}",
        stderr(&refused)
    );

    let wh = warehouse(dir.path());
    #[rustfmt::skip]
    let scheduler = start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", wh.to_str().unwrap(),
        "--flight-bind", "127.0.0.1:0", "--insecure",
    ]);
    let executor = executor(&scheduler.scheduler, &dir.path().join("executor"));
    let local = query_json(GROUPED, &["--warehouse", wh.to_str().unwrap(), "--param", "2023-06-01"]);
    assert_eq!(local.lines().count(), 3, "{local}");
    let remote = query_json(GROUPED, &["--server", &scheduler.addr, "--param", "2023-06-01"]);
    assert_eq!(remote, local);
    let log = std::fs::read_to_string(scheduler.daemon.log.path()).unwrap();
    assert!(log.contains("Flight SQL server runs INSECURE"), "{log}");
    let tasks = std::fs::read_to_string(executor.daemon.log.path()).unwrap();
    assert!(tasks.contains("Execute task"), "the executor ran no task:\n{tasks}");
    // The run ledger is a table too.
    let runs = strata(&[
        "query",
        "SELECT count(*) AS n FROM _strata.runs",
        "--server",
        &scheduler.addr,
    ]);
    assert!(stdout(&runs).contains("| 2 "), "{}", stdout(&runs));
}

/// A per-symbol aggregate over part of `gold.daily_indicators` (one parameter: the first date).
const GROUPED: &str = "SELECT symbol, count(*) AS sessions, round(avg(rsi_14), 6) AS rsi \
                       FROM gold.daily_indicators WHERE trade_date >= ? GROUP BY symbol ORDER BY symbol";

/// `strata query SQL --format json ARGS…`, which must succeed: its stdout.
fn query_json(sql: &str, args: &[&str]) -> String {
    let mut all = vec!["query", sql, "--format", "json"];
    all.extend_from_slice(args);
    let out = strata(&all);
    assert!(out.status.success(), "query {args:?}: {}", stderr(&out));
    stdout(&out)
}

/// An executor of the scheduler at `scheduler` (its log at info level), killed when dropped.
fn executor(scheduler: &str, work_dir: &Path) -> Server {
    #[rustfmt::skip]
    let daemon = Daemon::start(&[
        "--log", "info", "executor", "--scheduler", scheduler, "--vcores", "2", "--work-dir",
        work_dir.to_str().unwrap(),
    ], &[], &[]);
    Server {
        addr: String::new(),
        scheduler: String::new(),
        daemon,
    }
}

#[test]
fn on_s3_serve_query_and_the_scheduler_read_the_same_tables_as_on_disk() {
    let s3 = crate::storage::S3::get();
    let dir = tempfile::tempdir().unwrap();
    let local = warehouse(dir.path());
    let wh = s3.fresh("flight");
    s3.upload(&local, &wh);

    // `strata query --warehouse s3://…` (the embedded reference) equals the same tables on disk.
    let on_disk = query_json(QUERY, &["--warehouse", local.to_str().unwrap(), "--param", "AAAB"]);
    assert!(on_disk.lines().count() > 200, "{on_disk}");
    assert_eq!(query_json(QUERY, &["--warehouse", &wh, "--param", "AAAB"]), on_disk);

    // `strata serve` over the store lists the tables from it and serves the same rows.
    let server = start(&["serve", "--warehouse", &wh, "--bind", "127.0.0.1:0", "--insecure"]);
    let listed = query_json(
        "SELECT table_schema || '.' || table_name AS t FROM information_schema.tables \
         WHERE table_catalog = 'strata' ORDER BY t",
        &["--server", &server.addr],
    );
    for t in [
        "_strata.runs",
        "bronze.market_daily",
        "gold.daily_indicators",
        "silver.bars_21d",
    ] {
        assert!(listed.contains(&format!("\"{t}\"")), "{t} not listed: {listed}");
    }
    assert_eq!(
        query_json(QUERY, &["--server", &server.addr, "--param", "AAAB"]),
        on_disk
    );

    // A scheduler serving the store runs the query on its executor, with the executor's own store.
    #[rustfmt::skip]
    let scheduler = start(&[
        "--log", "info", "scheduler", "--bind", "127.0.0.1:0", "--warehouse", &wh, "--flight-bind", "127.0.0.1:0",
        "--insecure",
    ]);
    let executor = executor(&scheduler.scheduler, &dir.path().join("executor"));
    let expected = query_json(
        GROUPED,
        &["--warehouse", local.to_str().unwrap(), "--param", "2023-03-01"],
    );
    assert_eq!(expected.lines().count(), 3, "{expected}");
    assert_eq!(
        query_json(GROUPED, &["--server", &scheduler.addr, "--param", "2023-03-01"]),
        expected
    );
    let tasks = std::fs::read_to_string(executor.daemon.log.path()).unwrap();
    assert!(tasks.contains("Execute task"), "the executor ran no task:\n{tasks}");
}
