//! PostgreSQL sources and sinks against the real server `dev/test.sh` starts (`STRATA_POSTGRES`, with the user and
//! password in `STRATA_PG_USER` / `STRATA_PG_PASSWORD`, which `strata` reads the same way). Every test works in its
//! own database.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::kafka::table;
use crate::{repo_root, stderr, stdout, strata};

fn server() -> String {
    std::env::var("STRATA_POSTGRES").unwrap_or_else(|_| {
        panic!("STRATA_POSTGRES is not set: run the suite with dev/test.sh, which starts a PostgreSQL server")
    })
}

fn password() -> String {
    std::env::var("STRATA_PG_PASSWORD").unwrap_or_default()
}

/// A synchronous client for test setup and checks.
pub struct Pg {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Pg {
    pub fn connect(db: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = server();
        let (host, port) = server.rsplit_once(':').unwrap();
        let mut config = tokio_postgres::Config::new();
        config
            .host(host)
            .port(port.parse().unwrap())
            .dbname(db)
            .user(std::env::var("STRATA_PG_USER").unwrap_or_else(|_| "strata".into()))
            .password(password())
            .application_name("strata-test");
        let client = runtime.block_on(async {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        });
        Self { runtime, client }
    }

    pub fn exec(&self, sql: &str) {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// The first column of every row, as text.
    pub fn column(&self, sql: &str) -> Vec<Option<String>> {
        let messages = self
            .runtime
            .block_on(self.client.simple_query(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        messages
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .collect()
    }

    pub fn one(&self, sql: &str) -> String {
        self.column(sql)
            .into_iter()
            .next()
            .flatten()
            .unwrap_or_else(|| panic!("{sql}: no value"))
    }

    /// Row count and a digest of every row's text, in key order: equal digests mean equal tables.
    pub fn digest(&self, table: &str) -> String {
        self.one(&format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
        ))
    }

    /// [`Pg::digest`] without the columns a server fills (`id` identities, `created_at` defaults), which differ
    /// from run to run.
    pub fn digest_written(&self, table: &str) -> String {
        self.one(&format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(r, '|' ORDER BY r)), '')
             FROM (SELECT (to_jsonb(t) - 'id' - 'created_at')::text AS r FROM {table} t) rows"
        ))
    }
}

/// A new, empty database (dropped first if a previous run left it).
pub fn fresh_database(name: &str) -> String {
    let admin = Pg::connect("postgres");
    admin.exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    admin.exec(&format!("CREATE DATABASE {name}"));
    name.to_string()
}

fn write_job(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn run(job: &str, warehouse: &Path) -> Output {
    strata(&["run", job, "--no-progress", "--warehouse", warehouse.to_str().unwrap()])
}

/// `strata [flags] run JOB` with `env` set and `unset` removed from its environment.
fn run_with(job: &str, warehouse: &Path, flags: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(flags)
        .args(["run", job, "--no-progress", "--warehouse", warehouse.to_str().unwrap()])
        .current_dir(repo_root());
    for (k, v) in env {
        command.env(k, v);
    }
    for k in unset {
        command.env_remove(k);
    }
    command.output().unwrap()
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
}

/// Sessions of `db` other than the test's own.
fn sessions(pg: &Pg, db: &str, condition: &str) -> usize {
    pg.one(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND application_name <> 'strata-test' AND {condition}"
    ))
    .parse()
    .unwrap()
}

#[test]
fn a_table_read_into_delta_and_written_back_is_identical() {
    let db = fresh_database("strata_roundtrip");
    let pg = Pg::connect(&db);
    pg.exec(
        r#"SET TimeZone = 'Asia/Kolkata';
        CREATE TABLE src (id bigint PRIMARY KEY, symbol varchar(12), price numeric(12,4), big numeric(38,10),
            small smallint, qty integer, f double precision, ts timestamp, seen timestamptz, note text, ok boolean,
            day date);
        INSERT INTO src VALUES
          (1, 'AAPL', 123.4500, 1234567890123456789.0123456789, 1, 10, 1.5, '2024-03-01 12:34:56.789012',
              '2024-03-01 12:34:56.789012+05:30', 'héllo wörld ✓ 📈', true, '2024-03-01'),
          (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
          (3, 'ß', -0.0001, -9999999999999999999.9999999999, -32768, -2147483648, -0.0, '1969-12-31 23:59:59.999999',
              '1900-01-01 00:00:00+00', '', false, '1900-02-28'),
          (4, 'MSFT', 0.0000, 0, 32767, 2147483647, 1e300, '2262-01-01 00:00:00', '2000-01-01 00:00:00-08',
              'two
        lines, "quoted" and ''single''', true, '9999-12-31');
        INSERT INTO src SELECT i, 'S' || (i % 50), (i * 1.2345)::numeric(12,4), i::numeric / 7, (i % 1000)::smallint,
            i, i / 3.0, timestamp '2020-01-01' + i * interval '61.000001 seconds',
            timestamptz '2020-01-01 00:00+03' + i * interval '1 second', repeat('x', i % 20), i % 3 = 0,
            date '2020-01-01' + i % 2000
          FROM generate_series(5, 20000) i;
        UPDATE src SET ts = NULL WHERE id % 1000 = 0;
        CREATE TABLE dst (LIKE src INCLUDING ALL);"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let to_delta = write_job(
        dir.path(),
        "to_delta.sql",
        &format!(
            "CREATE EXTERNAL TABLE src STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'src', partitions '3');
             -- Split by a timestamp column with NULLs: every row must be read exactly once.
             CREATE EXTERNAL TABLE src_by_ts STORED AS POSTGRES LOCATION 'postgres:///{db}'
               OPTIONS (table 'src', partition_column 'ts', partitions '4');
             CREATE TABLE bronze.src_copy AS SELECT * FROM src;
             CREATE TABLE bronze.by_ts AS SELECT id FROM src_by_ts;"
        ),
    );
    assert_ok(&run(&to_delta, &wh));
    assert_eq!(table(&wh, "bronze.src_copy", &[])["rows"], 20000);
    let by_ts = table(&wh, "bronze.by_ts", &["id"]);
    assert_eq!(by_ts["rows"], 20000);
    assert_eq!(by_ts["columns"]["id"]["distinct"], 20000);

    let back = write_job(
        dir.path(),
        "back.sql",
        &format!(
            "CREATE EXTERNAL TABLE copy STORED AS DELTA LOCATION 'bronze/src_copy';
             CREATE EXTERNAL TABLE dst STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'dst', key 'id');
             -- Created by the job from the declared columns.
             CREATE EXTERNAL TABLE dst_new (id BIGINT NOT NULL, symbol VARCHAR, price DECIMAL(12, 4),
                 big DECIMAL(38, 10), small SMALLINT, qty INT, f DOUBLE, ts TIMESTAMP,
                 seen TIMESTAMP WITH TIME ZONE, note VARCHAR, ok BOOLEAN, day DATE)
               STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'dst_new', key 'id');
             INSERT INTO dst SELECT * FROM copy;
             INSERT INTO dst_new SELECT * FROM copy;"
        ),
    );
    assert_ok(&run(&back, &wh));
    let original = pg.digest("src");
    assert!(original.starts_with("20000:"), "{original}");
    assert_eq!(pg.digest("dst"), original);
    assert_eq!(pg.digest("dst_new"), original);
    // Spot checks of what the digest covers.
    assert_eq!(
        pg.one("SELECT big::text FROM dst_new WHERE id = 3"),
        "-9999999999999999999.9999999999"
    );
    assert_eq!(pg.one("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'dst_new'::regclass AND attname = 'seen'"), "timestamp with time zone");
    assert_eq!(
        pg.one("SELECT (seen AT TIME ZONE 'UTC')::text FROM dst_new WHERE id = 1"),
        "2024-03-01 07:04:56.789012"
    );
    assert_eq!(
        pg.one("SELECT count(*) FROM dst_new WHERE symbol IS NULL AND price IS NULL AND seen IS NULL"),
        "1"
    );

    // The comparison can fail.
    pg.exec("UPDATE dst SET note = note || '.' WHERE id = 7");
    assert_ne!(pg.digest("dst"), original);
}

/// A job that upserts 200,000 rows of `src` into `target`.
fn upsert_job(dir: &Path, db: &str, name: &str, extra_options: &str) -> String {
    write_job(
        dir,
        name,
        &format!(
            "CREATE EXTERNAL TABLE src STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'src');
             CREATE EXTERNAL TABLE target STORED AS POSTGRES LOCATION 'postgres:///{db}'
               OPTIONS (table 'target', key 'k'{extra_options});
             INSERT INTO target SELECT k, v, n FROM src;"
        ),
    )
}

/// Block the sink's upsert behind a lock, terminate its backend while it waits, and return the run's output.
fn terminate_mid_write(pg: &Pg, db: &str, job: &str, wh: &Path) -> Output {
    let lock = Pg::connect(db);
    lock.exec("BEGIN; LOCK TABLE target IN SHARE MODE");
    let child = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", job, "--no-progress", "--warehouse", wh.to_str().unwrap()])
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let waiting = "application_name = 'strata-sink' AND wait_event_type = 'Lock'";
    let pid = loop {
        let pids = pg.column(&format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND {waiting}"
        ));
        if let Some(Some(pid)) = pids.into_iter().next() {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sink never reached its upsert"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The rows are staged and the upsert is waiting: the write is half done.
    assert_eq!(pg.one(&format!("SELECT pg_terminate_backend({pid})")), "t");
    lock.exec("ROLLBACK");
    child.wait_with_output().unwrap()
}

#[test]
fn a_backend_killed_mid_write_leaves_the_table_as_it_was() {
    let db = fresh_database("strata_kill");
    let pg = Pg::connect(&db);
    pg.exec(
        "CREATE TABLE target (k bigint PRIMARY KEY, v text, n numeric(12,2));
         INSERT INTO target SELECT k, 'old', k FROM generate_series(1, 1000) k;
         CREATE TABLE src AS SELECT k, 'new-' || k AS v, (k * 0.01)::numeric(12,2) AS n FROM generate_series(500, 200499) k;
         CREATE TABLE expected AS SELECT * FROM target WHERE k < 500 UNION ALL SELECT * FROM src;",
    );
    let before = pg.digest("target");
    let expected = pg.digest("expected");
    assert_ne!(before, expected);
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");

    let no_retry = upsert_job(dir.path(), &db, "no_retry.sql", ", retries '0'");
    let out = terminate_mid_write(&pg, &db, &no_retry, &wh);
    assert!(!out.status.success(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("target") && err.contains("nothing was committed"), "{err}");
    assert!(!err.contains(&password()), "{err}");
    assert_eq!(pg.digest("target"), before, "the failed run changed the table");
    // The killed session is gone and nothing was left holding a transaction.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sessions(&pg, &db, "true") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sessions(&pg, &db, "state LIKE 'idle in transaction%'"), 0);
    assert_eq!(sessions(&pg, &db, "application_name LIKE 'strata%'"), 0);

    assert_ok(&run(&no_retry, &wh));
    assert_eq!(pg.digest("target"), expected);

    // With retries (the default), the same kill is survived: the transaction is redone on a new connection.
    pg.exec("TRUNCATE target; INSERT INTO target SELECT k, 'old', k FROM generate_series(1, 1000) k;");
    assert_eq!(pg.digest("target"), before);
    let retrying = upsert_job(dir.path(), &db, "retrying.sql", "");
    let out = terminate_mid_write(&pg, &db, &retrying, &wh);
    assert_ok(&out);
    assert!(stderr(&out).contains("redoing it"), "{}", stderr(&out));
    assert_eq!(pg.digest("target"), expected);
}

#[test]
fn an_upsert_resolves_duplicates_and_running_it_twice_changes_nothing() {
    let db = fresh_database("strata_upsert");
    let pg = Pg::connect(&db);
    pg.exec(
        "CREATE TABLE ticks (seq bigint, symbol text, day date, close numeric(10,2));
         INSERT INTO ticks SELECT i, 'S' || (i % 20), date '2024-01-01' + (i / 20) % 100, i * 0.5
           FROM generate_series(1, 5000) i;",
    );
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    // (symbol, day) repeats: every key appears 2 or 3 times; the last by seq must win.
    let job = write_job(
        dir.path(),
        "upsert.sql",
        &format!(
            "CREATE EXTERNAL TABLE ticks STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'ticks');
             CREATE EXTERNAL TABLE latest (symbol VARCHAR NOT NULL, day DATE NOT NULL, close DECIMAL(10, 2))
               STORED AS POSTGRES LOCATION 'postgres:///{db}'
               OPTIONS (table 'latest_close', key 'symbol, day', indexes 'day');
             INSERT INTO latest SELECT symbol, day, close FROM ticks ORDER BY seq;"
        ),
    );
    assert_ok(&run(&job, &wh));
    pg.exec(
        "CREATE TABLE expected AS SELECT DISTINCT ON (symbol, day) symbol, day, close FROM ticks
           ORDER BY symbol, day, seq DESC",
    );
    let first = pg.digest("latest_close");
    assert_eq!(first, pg.digest("expected"));
    assert_eq!(pg.one("SELECT count(*) FROM latest_close"), "2000");
    assert_eq!(
        pg.one("SELECT count(*) FROM pg_indexes WHERE tablename = 'latest_close'"),
        "2"
    );
    let versions = "SELECT md5(string_agg(xmin::text, ',' ORDER BY symbol, day)) FROM latest_close";
    let written = pg.one(versions);

    assert_ok(&run(&job, &wh));
    assert_eq!(pg.digest("latest_close"), first);
    // Identical rows are not even rewritten.
    assert_eq!(pg.one(versions), written);

    // A changed source row changes exactly its key's row.
    pg.exec("CREATE TABLE before_run AS SELECT symbol, day, xmin::text AS x FROM latest_close");
    pg.exec("UPDATE ticks SET close = 0.01 WHERE seq = 4999");
    assert_ok(&run(&job, &wh));
    assert_eq!(
        pg.one("SELECT close::text FROM latest_close WHERE symbol = 'S19' AND day = date '2024-01-01' + 49"),
        "0.01"
    );
    let rewritten =
        "SELECT count(*) FROM latest_close l JOIN before_run b USING (symbol, day) WHERE l.xmin::text <> b.x";
    assert_eq!(pg.one(rewritten), "1");
}

#[test]
fn bad_postgres_tables_fail_at_planning_without_leaking_the_password() {
    let db = fresh_database("strata_errors");
    let pg = Pg::connect(&db);
    pg.exec(
        "CREATE TABLE prices (id bigint PRIMARY KEY, symbol text, price numeric(12,4) CHECK (price > 0));
         CREATE TABLE nokey (symbol text, price numeric(12,4));",
    );
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let job = |name: &str, table: &str| {
        write_job(
            dir.path(),
            name,
            &format!("{table}\nCREATE TABLE bronze.out AS SELECT * FROM t;"),
        )
    };
    let source = |options: &str| {
        format!("CREATE EXTERNAL TABLE t STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS ({options});")
    };
    let fails = |out: &Output, needle: &str| {
        assert!(!out.status.success(), "{}", stdout(out));
        let err = stderr(out);
        assert!(err.contains(needle), "expected '{needle}' in: {err}");
        assert!(err.contains(".sql:1:"), "no file:line in: {err}");
        assert!(!err.contains(&password()), "{err}");
        assert!(!wh.join("bronze/out").exists(), "a failed job wrote its output");
        err
    };

    let good = job("good.sql", &source("table 'prices'"));
    // Debug logging shows connections and queries, never the password.
    let out = run_with(&good, &wh, &["--log", "debug"], &[], &[]);
    assert_ok(&out);
    assert!(stderr(&out).contains("strata_"), "no debug log: {}", stderr(&out));
    assert!(!stderr(&out).contains(&password()) && !stdout(&out).contains(&password()));
    std::fs::remove_dir_all(wh.join("bronze/out")).unwrap();

    // The password from a file (a mounted secret), with none in the environment.
    let secret = dir.path().join("pg-password");
    std::fs::write(&secret, format!("{}\n", password())).unwrap();
    let from_file = job(
        "from_file.sql",
        &source(&format!("table 'prices', password_file '{}'", secret.display())),
    );
    assert_ok(&run_with(
        &from_file,
        &wh,
        &[],
        &[],
        &["STRATA_PG_PASSWORD", "PGPASSWORD"],
    ));
    std::fs::remove_dir_all(wh.join("bronze/out")).unwrap();
    std::fs::write(&secret, "not-the-password\n").unwrap();
    fails(
        &run_with(&from_file, &wh, &[], &[], &["STRATA_PG_PASSWORD"]),
        "authentication failed for user",
    );

    let wrong = "wrong-Zq8XQ1";
    let err = fails(
        &run_with(&good, &wh, &[], &[("STRATA_PG_PASSWORD", wrong)], &[]),
        "authentication failed for user",
    );
    assert!(!err.contains(wrong), "{err}");

    let started = Instant::now();
    let unreachable = job(
        "unreachable.sql",
        "CREATE EXTERNAL TABLE t STORED AS POSTGRES LOCATION 'postgres://127.0.0.1:1/x' OPTIONS (table 'prices', retries '1');",
    );
    fails(&run(&unreachable, &wh), "cannot connect");
    assert!(started.elapsed() < Duration::from_secs(30));

    fails(
        &run(&job("missing.sql", &source("table 'no_such_table'")), &wh),
        "no_such_table does not exist",
    );

    let mismatch = job(
        "mismatch.sql",
        &format!(
            "CREATE EXTERNAL TABLE t (id BIGINT, price DOUBLE) STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'prices');"
        ),
    );
    let err = fails(&run(&mismatch, &wh), "type mismatch in column 'price'");
    assert!(err.contains("numeric(12,4)"), "{err}");

    let in_location = job(
        "in_location.sql",
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS POSTGRES LOCATION 'postgres://strata:s3cr3t-in-url@{}/{db}' OPTIONS (table 'prices');",
            server()
        ),
    );
    let err = fails(&run(&in_location, &wh), "passwords do not belong in job files");
    assert!(!err.contains("s3cr3t-in-url"), "{err}");
    fails(
        &run(&job("option.sql", &source("table 'prices', password 'x'")), &wh),
        "passwords do not belong",
    );
    fails(
        &run(&job("typo.sql", &source("table 'prices', partitons '2'")), &wh),
        "unknown option 'partitons'",
    );

    let no_key = write_job(
        dir.path(),
        "no_key.sql",
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'nokey', key 'symbol');
             INSERT INTO t SELECT 'A', 1.5;"
        ),
    );
    fails(&run(&no_key, &wh), "is not the primary key or a unique index");

    // A write the server refuses (a CHECK constraint) fails the run before any Delta table is committed.
    let refused = write_job(
        dir.path(),
        "refused.sql",
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'prices', key 'id');
             CREATE TABLE bronze.out AS SELECT 1 AS x;
             INSERT INTO t SELECT 1, 'A', -1.5;"
        ),
    );
    let out = run(&refused, &wh);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("violates check constraint"), "{}", stderr(&out));
    assert!(
        !wh.join("bronze/out").exists(),
        "Delta was committed although the PostgreSQL write failed"
    );
    assert_eq!(pg.one("SELECT count(*) FROM prices"), "0");
}

#[test]
fn tls_connections_verify_the_server_certificate() {
    let ca = std::env::var("STRATA_PG_CA").expect("STRATA_PG_CA: dev/test.sh starts PostgreSQL with TLS");
    let db = fresh_database("strata_tls");
    let pg = Pg::connect(&db);
    // A role the server accepts over TLS only (dev/postgres.sh's pg_hba.conf).
    pg.exec(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tls_only') THEN \
         CREATE ROLE tls_only LOGIN SUPERUSER PASSWORD '{}'; END IF; END $$;
         CREATE TABLE prices (id bigint PRIMARY KEY, price numeric(12,4));
         INSERT INTO prices VALUES (1, 2.5), (2, 3.75);",
        password()
    ));
    let dir = tempfile::tempdir().unwrap();
    let wh = dir.path().join("wh");
    let job = |name: &str, options: &str| {
        write_job(
            dir.path(),
            name,
            &format!(
                "CREATE EXTERNAL TABLE prices STORED AS POSTGRES LOCATION 'postgres:///{db}'
                   OPTIONS (table 'prices', user 'tls_only'{options});
                 CREATE EXTERNAL TABLE copy (id BIGINT NOT NULL, price DECIMAL(12, 4)) STORED AS POSTGRES
                   LOCATION 'postgres:///{db}' OPTIONS (table 'prices_copy', key 'id', user 'tls_only'{options});
                 INSERT INTO copy SELECT * FROM prices;"
            ),
        )
    };
    let verified = job("verified.sql", &format!(", sslmode 'verify-full', sslrootcert '{ca}'"));
    assert_ok(&run(&verified, &wh));
    assert_eq!(pg.digest("prices_copy"), pg.digest("prices"));
    // The default (prefer) uses TLS when the server offers it: verified with a root certificate, encrypted only
    // without one (libpq's behaviour).
    assert_ok(&run(&job("prefer.sql", &format!(", sslrootcert '{ca}'")), &wh));
    assert_ok(&run(&job("encrypted.sql", ""), &wh));

    let out = run(&job("plain.sql", ", sslmode 'disable'"), &wh);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no encryption"), "{}", stderr(&out));
    // A certificate nobody vouches for is refused.
    let out = run(&job("unverified.sql", ", sslmode 'verify-full', retries '0'"), &wh);
    assert!(!out.status.success());
    assert!(stderr(&out).to_lowercase().contains("certificate"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(&password()));
}
