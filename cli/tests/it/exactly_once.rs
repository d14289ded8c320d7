//! Exactly once into every sink that stores offsets: a Kafka topic (the `tansu` broker `dev/test.sh` starts) read
//! into a PostgreSQL append table and a Delta table by one job, with runs killed by `kill -9` at random moments and
//! exactly between the PostgreSQL commit and the Delta commit. Each sink must hold every message once, whatever
//! the other one did. Moments come from the seeded generator (`STRATA_TEST_SEED` replays them).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::chaos::Rng;
use crate::kafka::{broker, create_topic, produce, table, tick, unique};
use crate::postgres::{Pg, fresh_database};
use crate::*;

/// A job writing every message of `topic` to the PostgreSQL table `ticks` (created by its first run) and to the
/// Delta table `bronze.ticks`.
fn both_sinks_job(dir: &Path, topic: &str, db: &str) -> String {
    let job = format!(
        "CREATE EXTERNAL TABLE ticks (id BIGINT NOT NULL, symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, ts TIMESTAMP)
         STORED AS KAFKA LOCATION 'kafka://{broker}/{topic}' OPTIONS ('format' 'json', 'consumer' 'both-sinks');
         CREATE EXTERNAL TABLE pg_ticks (id BIGINT NOT NULL, symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, ts TIMESTAMP)
         STORED AS POSTGRES LOCATION 'postgres:///{db}' OPTIONS (table 'ticks');
         INSERT INTO pg_ticks SELECT * FROM ticks;
         INSERT INTO bronze.ticks SELECT * FROM ticks;\n",
        broker = broker()
    );
    let path = dir.join("both.sql");
    std::fs::write(&path, job).unwrap();
    path.display().to_string()
}

fn spawn(job: &str, wh: &Path, failpoint: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(["run", job, "--no-progress", "--warehouse", wh.to_str().unwrap()])
        .env("STRATA_FAILPOINT", failpoint)
        .current_dir(repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Start a run that stops between its PostgreSQL and its Delta commit, and `kill -9` it there.
fn kill_between_commits(job: &str, wh: &Path) {
    let mut child = spawn(job, wh, "between-commits-pause");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut log = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("waiting to be killed") {
                let _ = tx.send(Ok(()));
            }
            log.push_str(&line);
            log.push('\n');
        }
        let _ = tx.send(Err(log));
    });
    match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(Ok(())) => {}
        Ok(Err(log)) => panic!("the run ended before it reached the point between its commits:\n{log}"),
        Err(_) => panic!("the run never reached the point between its commits"),
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(status.code().is_none(), "killed between commits: {status}");
}

/// Produce the first 10,000 of `ids` and run cleanly (both sinks level), then produce the rest and kill the next
/// run between its two sinks' commits.
fn level_then_kill_between_commits(job: &str, wh: &Path, topic: &str, ids: std::ops::Range<u64>) {
    let (first, second): (Vec<_>, Vec<_>) = ids.map(tick).enumerate().partition(|(i, _)| *i < 10_000);
    produce(topic, &first.into_iter().map(|(_, m)| m).collect::<Vec<_>>(), false);
    let out = strata(&["run", job, "--no-progress", "--warehouse", wh.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    produce(topic, &second.into_iter().map(|(_, m)| m).collect::<Vec<_>>(), false);
    kill_between_commits(job, wh);
}

/// Run until a run finds nothing new (at most 10 runs).
fn catch_up(job: &str, wh: &Path) {
    for _ in 0..10 {
        let out = strata(&["run", job, "--no-progress", "--warehouse", wh.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        if stdout(&out).contains("no new messages") {
            return;
        }
    }
    panic!("ten runs never caught up");
}

/// `kill -9` a run after a random moment; whether it was still running when the signal came.
fn kill_at_random(job: &str, wh: &Path, rng: &mut Rng) -> bool {
    let delay = 100 + rng.below(1800);
    let mut child = spawn(job, wh, "");
    std::thread::sleep(Duration::from_millis(delay));
    let _ = child.kill();
    let status = child.wait().unwrap();
    eprintln!("kill -9 after {delay} ms: {status}");
    status.code().is_none()
}

fn pg_count(pg: &Pg) -> (u64, u64) {
    let count = pg.one("SELECT count(*) || ' ' || count(DISTINCT id) FROM ticks");
    let (a, b) = count.split_once(' ').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn a_hundred_thousand_messages_reach_postgres_and_delta_exactly_once_through_kill_9() {
    let (seed, mut rng) = Rng::seeded();
    eprintln!("seed {seed}");
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let db = fresh_database("strata_exactly_once");
    let pg = Pg::connect(&db);
    let topic = unique("both-sinks");
    create_topic(&topic, 4);
    let job = both_sinks_job(root.path(), &topic, &db);
    let total = 100_000u64;
    let waves = 4;
    let per_wave = total / waves;
    let (mut random_kills, mut between) = (0, 0);
    for wave in 0..waves {
        let ids = wave * per_wave..(wave + 1) * per_wave;
        // PostgreSQL commits first, then Delta.
        level_then_kill_between_commits(&job, &wh, &topic, ids);
        between += 1;
        let (rows, _) = pg_count(&pg);
        let delta = table(&wh, "bronze.ticks", &[])["rows"].as_u64().unwrap();
        assert!(
            rows > delta,
            "PostgreSQL committed before the kill, Delta did not: {rows} vs {delta}"
        );
        // Random moments: reading, writing, inside the PostgreSQL transaction, committing.
        let mut attempts = 0;
        let mut killed = 0;
        while killed < 2 && attempts < 10 {
            attempts += 1;
            killed += usize::from(kill_at_random(&job, &wh, &mut rng));
        }
        random_kills += killed;
    }
    eprintln!("{random_kills} random kills, {between} between the commits");
    assert!(random_kills + between >= 10, "too few runs were killed while running");
    assert!(random_kills >= 6, "the random kills came too late: {random_kills}");

    catch_up(&job, &wh);
    assert_eq!(pg_count(&pg), (total, total), "PostgreSQL: rows, distinct ids");
    let delta = table(&wh, "bronze.ticks", &["id"]);
    assert_eq!(delta["rows"], total);
    assert_eq!(delta["columns"]["id"]["distinct"], total);
    // Both sinks stored the same next offsets, and they cover the whole topic.
    let next: u64 = pg
        .one(
            "SELECT sum(next_offset) FROM strata.kafka_offsets WHERE sink = 'public.ticks' AND consumer = 'both-sinks'",
        )
        .parse()
        .unwrap();
    assert_eq!(next, total);
    let txns: u64 = delta["txns"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(txns, total);

    // One more run adds nothing to either sink.
    let version = delta["version"].clone();
    let out = strata(&["run", &job, "--no-progress", "--warehouse", wh.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no new messages"), "{}", stdout(&out));
    assert_eq!(pg_count(&pg), (total, total));
    assert_eq!(table(&wh, "bronze.ticks", &[])["version"], version);
}

#[test]
fn a_kafka_source_feeding_no_table_that_holds_offsets_is_refused_by_validate() {
    let root = tempfile::tempdir().unwrap();
    // No broker is reachable at this address: the check needs none.
    let job = root.path().join("views_only.sql");
    std::fs::write(
        &job,
        "CREATE EXTERNAL TABLE ticks (id BIGINT, symbol VARCHAR)\n\
         STORED AS KAFKA LOCATION 'kafka://127.0.0.1:1/ticks' OPTIONS ('format' 'json');\n\
         CREATE VIEW counts AS SELECT symbol, count(*) AS n FROM ticks GROUP BY symbol;\n\
         CREATE EXTERNAL TABLE other (symbol VARCHAR) STORED AS KAFKA LOCATION 'kafka://127.0.0.1:1/other';\n\
         CREATE TABLE silver.other AS SELECT * FROM other;\n",
    )
    .unwrap();
    let out = strata(&["validate", job.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("views_only.sql:1:1")
            && err.contains("Kafka table 'ticks' feeds no table that can store its offsets"),
        "{err}"
    );
    // Writing the counts to a table makes the same job valid (up to the unreachable broker).
    std::fs::write(
        &job,
        std::fs::read_to_string(&job).unwrap() + "INSERT INTO silver.counts SELECT * FROM counts;\n",
    )
    .unwrap();
    let out = strata(&["validate", job.to_str().unwrap()]);
    assert!(!stderr(&out).contains("feeds no table"), "{}", stderr(&out));
}

/// Every message of `topic` a `read_committed` consumer reads: (partition, value).
fn read_committed(topic: &str, partitions: i32) -> Vec<(i32, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("broker.address.family", "v4")
        .set("group.id", unique("exactly-once-reader"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&list).unwrap();
    let (mut out, mut ended) = (Vec::new(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while ended < partitions && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.partition(),
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

/// The messages in `topic` (the sum of its partitions' high watermarks).
fn topic_size(consumer: &rdkafka::consumer::BaseConsumer, topic: &str, partitions: i32) -> i64 {
    use rdkafka::consumer::Consumer;
    (0..partitions)
        .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).unwrap().1)
        .sum()
}

/// Start a run and `kill -9` it as soon as `output` grows: while it publishes its outbox. Whether the kill came
/// mid-publish (the topic grew by less than `expected`).
fn kill_while_publishing(job: &str, wh: &Path, output: &str, expected: i64) -> bool {
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker())
        .set("broker.address.family", "v4")
        .create()
        .unwrap();
    let before = topic_size(&consumer, output, 4);
    let mut child = spawn(job, wh, "");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false; // it finished before anything was seen
        }
        if topic_size(&consumer, output, 4) > before || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let grown = topic_size(&consumer, output, 4) - before;
    eprintln!("kill -9 while publishing: {grown} of {expected} messages were out");
    grown < expected
}

/// Kafka → Kafka (and Delta): 120,000 messages over 4 partitions, runs killed at random moments (reading, in the
/// outbox commit, while publishing) and between two sinks' commits. A `read_committed` consumer of the output topic
/// then reads each message exactly once, and one more run adds nothing.
#[test]
fn a_hundred_and_twenty_thousand_messages_reach_a_topic_exactly_once_through_kill_9() {
    let (seed, mut rng) = Rng::seeded();
    eprintln!("seed {seed}");
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let (input, output) = (unique("k2k-in"), unique("k2k-out"));
    create_topic(&input, 4);
    create_topic(&output, 4);
    let job = root.path().join("k2k.sql");
    std::fs::write(
        &job,
        format!(
            "CREATE EXTERNAL TABLE ticks (id BIGINT NOT NULL, symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, ts TIMESTAMP)
             STORED AS KAFKA LOCATION 'kafka://{b}/{input}' OPTIONS ('format' 'json', 'consumer' 'k2k');
             CREATE EXTERNAL TABLE processed (id BIGINT, symbol VARCHAR, price DOUBLE)
             STORED AS KAFKA LOCATION 'kafka://{b}/{output}' OPTIONS ('format' 'json', 'key' 'symbol');
             INSERT INTO processed SELECT id, symbol, price * 2 FROM ticks;
             INSERT INTO bronze.ticks SELECT * FROM ticks;\n",
            b = broker()
        ),
    )
    .unwrap();
    let job = job.display().to_string();
    let per_wave = 25_000u64;
    // 4 waves of 25,000, and 4 × 5,000 more produced before the kills while publishing.
    let total = 4 * per_wave + 20_000;
    let mut kills = 0;
    let mut mid_publish = 0;
    for wave in 0..4 {
        let ids = wave * per_wave..(wave + 1) * per_wave;
        level_then_kill_between_commits(&job, &wh, &input, ids);
        kills += 1;
        let mut attempts = 0;
        let mut killed = 0;
        while killed < 2 && attempts < 10 {
            attempts += 1;
            killed += usize::from(kill_at_random(&job, &wh, &mut rng));
        }
        kills += killed;
        // New messages, then a kill while the run publishes them.
        let more: Vec<_> = (1_000_000 + wave * 5000..1_000_000 + (wave + 1) * 5000)
            .map(tick)
            .collect();
        produce(&input, &more, false);
        if kill_while_publishing(&job, &wh, &output, 5000) {
            mid_publish += 1;
            kills += 1;
        }
    }
    assert!(kills >= 10, "too few runs were killed while running: {kills}");
    assert!(mid_publish > 0, "no run was killed while publishing");
    catch_up(&job, &wh);
    let ids = |messages: &[(i32, String)]| -> (usize, usize) {
        let mut ids: Vec<u64> = messages
            .iter()
            .map(|(_, v)| {
                serde_json::from_str::<serde_json::Value>(v).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        (n, ids.len())
    };
    let messages = read_committed(&output, 4);
    assert_eq!(
        ids(&messages),
        (total as usize, total as usize),
        "read_committed: messages, distinct ids"
    );
    // Keyed by symbol: each symbol's messages in one partition.
    let mut partition_of = std::collections::HashMap::new();
    for (p, v) in &messages {
        let symbol = serde_json::from_str::<serde_json::Value>(v).unwrap()["symbol"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(*partition_of.entry(symbol).or_insert(*p), *p);
    }
    let delta = table(&wh, "bronze.ticks", &["id"]);
    assert_eq!(
        (delta["rows"].as_u64(), delta["columns"]["id"]["distinct"].as_u64()),
        (Some(total), Some(total))
    );

    let out = strata(&["run", &job, "--no-progress", "--warehouse", wh.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        read_committed(&output, 4).len(),
        total as usize,
        "one more run produced again"
    );
}
