//! Kafka sources and sinks against a real Kafka-protocol broker (`tansu`, started on loopback by `dev/test.sh`;
//! its address is in `STRATA_KAFKA`). Output tables are read back with the independent `deltalake` reader.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::*;

/// The broker `dev/test.sh` started.
pub fn broker() -> String {
    std::env::var("STRATA_KAFKA").unwrap_or_else(|_| {
        panic!("STRATA_KAFKA is not set: run the suite with dev/test.sh, which starts a Kafka-protocol broker")
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A topic name no other test (or earlier suite run against the same broker) uses.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

pub fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("broker.address.family", "v4")
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = runtime().block_on(admin.create_topics(&[topic], &options)).unwrap();
    for r in results {
        r.unwrap();
    }
}

/// Produce `(key, value)` messages. `one_per_batch` makes every message its own record batch: tansu 0.6 cannot
/// start a fetch in the middle of a batch, which runs capped by `max_messages_per_partition` need.
pub fn produce(topic: &str, messages: &[(String, String)], one_per_batch: bool) {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker())
        .set("broker.address.family", "v4")
        .set("enable.idempotence", "true");
    if one_per_batch {
        config.set("batch.num.messages", "1").set("linger.ms", "0");
    } else {
        config.set("linger.ms", "20");
    }
    let producer: FutureProducer = config.create().unwrap();
    runtime().block_on(async {
        for chunk in messages.chunks(5000) {
            let sends = chunk.iter().map(|(k, v)| {
                producer.send(
                    FutureRecord::to(topic).key(k.as_str()).payload(v.as_str()),
                    Duration::from_secs(30),
                )
            });
            for r in futures::future::join_all(sends).await {
                r.map_err(|(e, _)| e).unwrap();
            }
        }
    });
}

/// Every message of a topic: (partition, key, value).
pub fn consume_all(topic: &str, partitions: i32) -> Vec<(i32, Option<String>, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("broker.address.family", "v4")
        .set("group.id", unique("test-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut out = Vec::new();
    let mut ended = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while ended < partitions && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.partition(),
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
    assert_eq!(ended, partitions, "did not reach the end of {topic}");
    out
}

/// Facts about a Delta table, from the independent reader.
pub fn table(warehouse: impl AsRef<std::ffi::OsStr>, name: &str, columns: &[&str]) -> serde_json::Value {
    let warehouse = warehouse.as_ref().to_str().unwrap().trim_end_matches('/');
    let dir = format!("{warehouse}/{}", name.replace('.', "/"));
    let out = Command::new(python())
        .arg(repo_root().join("dev/check_table.py"))
        .arg(&dir)
        .args(columns)
        .output()
        .unwrap();
    assert!(out.status.success(), "{dir}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A tick with id `id` (unique ids, seven symbols), keyed by its symbol.
pub(crate) fn tick(id: u64) -> (String, String) {
    let symbol = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA"][(id % 7) as usize];
    let value = format!(
        r#"{{"id":{id},"symbol":"{symbol}","price":{}.25,"ts":"2024-03-{:02}T14:{:02}:{:02}Z"}}"#,
        100 + id % 50,
        1 + id % 28,
        id / 60 % 60,
        id % 60
    );
    (symbol.to_string(), value)
}

/// A job that reads `topic` into two tables (so a run can die between their commits).
fn ingest_job(dir: &Path, topic: &str, extra_options: &str) -> String {
    let job = format!(
        "CREATE EXTERNAL TABLE ticks (id BIGINT NOT NULL, symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, ts TIMESTAMP)
         STORED AS KAFKA LOCATION 'kafka://{broker}/{topic}'
         OPTIONS ('format' 'json', 'consumer' 'ingest-test'{extra_options});
         INSERT INTO bronze.ticks SELECT * FROM ticks;
         INSERT INTO bronze.ticks_per_symbol SELECT symbol, count(*) AS n FROM ticks GROUP BY symbol;\n",
        broker = broker()
    );
    let path = dir.join("ingest.sql");
    std::fs::write(&path, job).unwrap();
    path.display().to_string()
}

fn run(job: &str, warehouse: impl AsRef<std::ffi::OsStr>, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        job,
        "--no-progress",
        "--warehouse",
        warehouse.as_ref().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    strata(&args)
}

/// A pseudo-random number from the clock, printed so a failing schedule can be replayed by reading the log.
fn jitter(limit_ms: u64) -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    nanos.wrapping_mul(6364136223846793005).rotate_left(17) % limit_ms.max(1)
}

#[test]
fn a_hundred_thousand_messages_land_exactly_once_through_kill_9_at_random_points() {
    exactly_once_through_kills(false);
}

#[test]
fn on_s3_a_hundred_thousand_messages_land_exactly_once_through_kill_9_at_random_points() {
    exactly_once_through_kills(true);
}

/// Four waves of 25,000 messages, with runs killed at random moments, aborted before their commits and between
/// them; then re-runs until nothing is new: every message exactly once, in a local or an `s3://` warehouse.
fn exactly_once_through_kills(on_s3: bool) {
    let root = tempfile::tempdir().unwrap();
    let wh = if on_s3 {
        crate::storage::S3::get().fresh("kafka-exactly-once")
    } else {
        root.path().join("wh").display().to_string()
    };
    let topic = unique("ticks");
    create_topic(&topic, 4);
    let job = ingest_job(root.path(), &topic, "");
    let total = 100_000u64;
    let waves = 4;
    let per_wave = total / waves;
    let mut killed = 0;
    for wave in 0..waves {
        let messages: Vec<_> = (wave * per_wave..(wave + 1) * per_wave).map(tick).collect();
        produce(&topic, &messages, false);
        match wave {
            // Killed at random moments: while reading, writing or committing.
            0 | 3 => {
                for attempt in 0..3 {
                    let delay = 100 + jitter(1200);
                    let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
                        .args(["run", &job, "--no-progress", "--warehouse", &wh])
                        .current_dir(repo_root())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(delay));
                    let _ = child.kill(); // SIGKILL
                    let status = child.wait().unwrap();
                    killed += usize::from(status.code().is_none());
                    eprintln!("wave {wave}.{attempt}: kill -9 after {delay} ms: {status}");
                }
            }
            // On a cluster: every data file written, nothing committed yet.
            1 => {
                let out = Command::new(env!("CARGO_BIN_EXE_strata"))
                    .args(["run", &job, "--no-progress", "--standalone", "--warehouse", &wh])
                    .env("STRATA_FAILPOINT", "before-commit")
                    .current_dir(repo_root())
                    .output()
                    .unwrap();
                assert!(!out.status.success(), "the failpoint must abort the run");
                assert!(table(&wh, "bronze.ticks", &[])["rows"].as_u64().unwrap() <= wave * per_wave);
            }
            // Dies after the first of the two tables committed.
            _ => {
                let out = Command::new(env!("CARGO_BIN_EXE_strata"))
                    .args(["run", &job, "--no-progress", "--warehouse", &wh])
                    .env("STRATA_FAILPOINT", "between-commits")
                    .current_dir(repo_root())
                    .output()
                    .unwrap();
                assert!(!out.status.success(), "the failpoint must abort the run");
            }
        }
    }
    assert!(killed > 0, "no run was killed while running: the kills came too late");
    // Restart and re-run until a run finds nothing new.
    let mut reruns = 0;
    loop {
        let out = run(&job, &wh, &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        reruns += 1;
        if stdout(&out).contains("no new messages") {
            break;
        }
        assert!(reruns < 10, "runs never caught up:\n{}", stdout(&out));
    }
    let ticks = table(&wh, "bronze.ticks", &["id"]);
    assert_eq!(ticks["rows"], total, "{}", ticks["rows"]);
    assert_eq!(ticks["columns"]["id"]["distinct"], total);
    // The second table's counts add up to the same total: it was neither skipped nor doubled by a recovery.
    let counts = table(&wh, "bronze.ticks_per_symbol", &["n"]);
    let sum: u64 = counts["columns"]["n"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(sum, total);
    // Both tables record the same next offsets, and they cover the whole topic.
    assert_eq!(ticks["txns"], counts["txns"]);
    let next: u64 = ticks["txns"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(next, total);
}

#[test]
fn later_messages_lag_dead_letters_and_empty_runs() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let topic = unique("mixed");
    create_topic(&topic, 2);
    let job = ingest_job(root.path(), &topic, ", 'max_messages_per_partition' '300'");
    // 1,000 messages, 1% malformed in four different ways.
    let mut messages: Vec<(String, String)> = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    for id in 0..1000u64 {
        let (key, value) = tick(id);
        let value = match id % 100 {
            13 => {
                let malformed = match id / 100 % 4 {
                    0 => "{not json".to_string(),
                    1 => format!(r#"{{"id":{id},"symbol":"X","price":"high","ts":"2024-03-01T00:00:00Z"}}"#),
                    2 => value.replace(r#""symbol":"#, r#""venue":"XNYS","symbol":"#),
                    _ => format!(r#"{{"id":{id},"price":1.0}}"#),
                };
                bad.push(malformed.clone());
                malformed
            }
            _ => value,
        };
        messages.push((key, value));
    }
    assert_eq!(bad.len(), 10);
    produce(&topic, &messages, true);

    // Capped at 300 per partition: 600 read, the rest is the lag this run leaves behind.
    let first = run(&job, &wh, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let report = stdout(&first);
    assert!(report.contains(&format!("{topic}  ")), "{report}");
    let ticks = table(&wh, "bronze.ticks", &["id"]);
    let dead = table(&wh, "ticks_dead_letter", &["partition", "offset", "error"]);
    let read_first = ticks["rows"].as_u64().unwrap() + dead["rows"].as_u64().unwrap();
    assert_eq!(read_first, 600, "{report}");
    assert!(report.contains(" 400\n"), "the lag (400) is reported:\n{report}");

    let second = run(&job, &wh, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let ticks = table(&wh, "bronze.ticks", &["id"]);
    assert_eq!(ticks["rows"], 990);
    assert_eq!(ticks["columns"]["id"]["distinct"], 990);
    let dead = table(&wh, "ticks_dead_letter", &["partition", "offset", "error"]);
    assert_eq!(dead["rows"], 10);
    let errors: Vec<&str> = dead["columns"]["error"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for reason in [
        "not JSON",
        "'price'",
        "'venue' is not in the declared schema",
        "'symbol' is missing",
    ] {
        assert!(errors.iter().any(|e| e.contains(reason)), "{reason} in {errors:?}");
    }
    // The dead letters name offsets that really hold the malformed messages.
    let offsets = dead["columns"]["offset"]["values"].as_array().unwrap();
    let partitions = dead["columns"]["partition"]["values"].as_array().unwrap();
    let stored = consume_all(&topic, 2);
    for (p, o) in partitions.iter().zip(offsets) {
        let (p, o) = (p.as_i64().unwrap() as i32, o.as_i64().unwrap());
        // Offsets are contiguous (an idempotent producer, no transactions): the n-th message is offset n.
        let value = &stored.iter().filter(|(q, ..)| *q == p).nth(o as usize).unwrap().2;
        assert!(
            bad.contains(value),
            "partition {p} offset {o} holds a good message: {value}"
        );
    }
    assert!(stdout(&second).contains(" 0\n"), "no lag left:\n{}", stdout(&second));

    // Nothing new: exit 0, nothing committed.
    let versions = (ticks["version"].clone(), dead["version"].clone());
    let empty = run(&job, &wh, &[]);
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert!(stdout(&empty).contains("no new messages"), "{}", stdout(&empty));
    assert_eq!(table(&wh, "bronze.ticks", &[])["version"], versions.0);
    assert_eq!(table(&wh, "ticks_dead_letter", &[])["version"], versions.1);

    // Messages produced after those runs are read by the next one, once.
    let later: Vec<_> = (1000..1100).map(tick).collect();
    produce(&topic, &later, true);
    let out = run(&job, &wh, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ticks = table(&wh, "bronze.ticks", &["id"]);
    assert_eq!(ticks["rows"], 1090);
    assert_eq!(ticks["columns"]["id"]["distinct"], 1090);
}

#[test]
fn a_first_run_from_latest_pins_its_position() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let topic = unique("latest");
    create_topic(&topic, 2);
    produce(&topic, &(0..20).map(tick).collect::<Vec<_>>(), true);
    let job = ingest_job(root.path(), &topic, ", 'starting_offsets' 'latest'");
    let first = run(&job, &wh, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("no new messages"), "{}", stdout(&first));
    // The position is stored although nothing was read...
    let ticks = table(&wh, "bronze.ticks", &[]);
    assert_eq!(ticks["rows"], 0);
    assert_eq!(ticks["txns"].as_object().unwrap().len(), 2, "{ticks}");
    // ...so what arrives next is read by the next run, and nothing from before.
    produce(&topic, &(20..25).map(tick).collect::<Vec<_>>(), true);
    let second = run(&job, &wh, &[]);
    assert!(second.status.success(), "{}", stderr(&second));
    let ticks = table(&wh, "bronze.ticks", &["id"]);
    let mut ids: Vec<u64> = ticks["columns"]["id"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (20..25).collect::<Vec<_>>());
}

#[test]
fn inserts_produce_keyed_messages_and_bad_kafka_tables_fail_at_planning() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let topic = unique("out");
    create_topic(&topic, 3);
    let job = root.path().join("produce.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE EXTERNAL TABLE out (symbol VARCHAR, n BIGINT) STORED AS KAFKA
             LOCATION 'kafka:///{topic}' OPTIONS ('format' 'json', 'key' 'symbol');
             INSERT INTO out SELECT column1, column2 FROM (VALUES ('AAPL', 1), ('MSFT', 2), ('AAPL', 3));\n"
        ),
    )
    .unwrap();
    let out = run(job.to_str().unwrap(), &wh, &["--kafka-brokers", &broker()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut got = consume_all(&topic, 3);
    got.sort_by(|a, b| a.2.cmp(&b.2));
    let values: Vec<&str> = got.iter().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(
        values,
        [
            r#"{"symbol":"AAPL","n":1}"#,
            r#"{"symbol":"AAPL","n":3}"#,
            r#"{"symbol":"MSFT","n":2}"#
        ]
    );
    // Keyed by symbol: both AAPL messages in one partition.
    assert_eq!(got[0].1.as_deref(), Some("AAPL"));
    assert_eq!(got[0].0, got[1].0);

    // Avro (Confluent framing) out through a sink, back in through a source: the same rows, typed.
    let avro_topic = unique("avro");
    create_topic(&avro_topic, 2);
    let out_job = root.path().join("avro_out.sql");
    std::fs::write(
        &out_job,
        format!(
            "CREATE EXTERNAL TABLE t (symbol VARCHAR NOT NULL, price DOUBLE, ts TIMESTAMP) STORED AS KAFKA
             LOCATION 'kafka:///{avro_topic}'
             OPTIONS ('format' 'avro', 'avro.framing' 'confluent', 'avro.schema_id' '42', 'key' 'symbol');
             INSERT INTO t SELECT column1, column2, CAST(column3 AS TIMESTAMP)
             FROM (VALUES ('AAPL', 1.5, '2024-05-01T10:00:00'), ('MSFT', NULL, '2024-05-02T11:30:00.5'));\n"
        ),
    )
    .unwrap();
    let out = run(out_job.to_str().unwrap(), &wh, &["--kafka-brokers", &broker()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let raw = consume_all(&avro_topic, 2);
    assert_eq!(raw.len(), 2);
    let in_job = root.path().join("avro_in.sql");
    std::fs::write(
        &in_job,
        format!(
            "CREATE EXTERNAL TABLE t (symbol VARCHAR NOT NULL, price DOUBLE, ts TIMESTAMP) STORED AS KAFKA
             LOCATION 'kafka:///{avro_topic}' OPTIONS ('format' 'avro', 'avro.framing' 'confluent');
             INSERT INTO bronze.avro_rows SELECT symbol, price, CAST(ts AS VARCHAR) AS ts FROM t;\n"
        ),
    )
    .unwrap();
    let out = run(in_job.to_str().unwrap(), &wh, &["--kafka-brokers", &broker()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = table(&wh, "bronze.avro_rows", &["symbol", "price", "ts"]);
    let mut got: Vec<String> = (0..2)
        .map(|i| {
            format!(
                "{} {} {}",
                rows["columns"]["symbol"]["values"][i],
                rows["columns"]["price"]["values"][i],
                rows["columns"]["ts"]["values"][i]
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            r#""AAPL" 1.5 "2024-05-01T10:00:00""#,
            r#""MSFT" null "2024-05-02T11:30:00.500""#
        ]
    );

    // A missing topic, an unknown option and a location without brokers fail before anything runs.
    let cases = [
        (
            format!("kafka://{}/{}", broker(), unique("missing")),
            "('format' 'json')",
            "the topic does not exist",
        ),
        (
            format!("kafka://{}/{topic}", broker()),
            "('colour' 'red')",
            "option 'colour'",
        ),
        (format!("kafka:///{topic}"), "('format' 'json')", "names no brokers"),
    ];
    for (location, options, message) in cases {
        let bad = root.path().join("bad.sql");
        std::fs::write(
            &bad,
            format!(
                "CREATE EXTERNAL TABLE t (a BIGINT) STORED AS KAFKA LOCATION '{location}' OPTIONS {options};\n\
                 INSERT INTO x SELECT * FROM t;\n"
            ),
        )
        .unwrap();
        let out = run(bad.to_str().unwrap(), &wh, &["--kafka-brokers="]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(message) && err.contains("bad.sql:1"), "{message}: {err}");
    }
}
