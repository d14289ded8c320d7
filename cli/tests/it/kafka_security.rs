//! Kafka over TLS with SASL SCRAM logins, against the secured broker `dev/test.sh` starts
//! (`strata_kafka_secure_start`: tansu with `--authentication` behind a mutual-TLS front, one SCRAM user whose
//! password is in a file). The credentials reach `strata` only through the `STRATA_KAFKA_*` environment, as the
//! Helm chart passes a Secret; the job files name the broker and nothing else.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::kafka::{table, tick, unique};
use crate::*;

/// One setting of the secured broker, from `dev/test.sh`'s environment.
fn secure(name: &str) -> String {
    let var = format!("STRATA_KAFKA_SECURE{name}");
    std::env::var(&var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite with dev/test.sh, which starts the secured Kafka broker")
    })
}

fn password() -> String {
    std::fs::read_to_string(secure("_PASSWORD_FILE"))
        .unwrap()
        .trim()
        .to_string()
}

/// A test client's settings: SCRAM-SHA-512 over mutual TLS, as the broker requires.
fn client() -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", secure(""))
        .set("broker.address.family", "v4")
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", secure("_USER"))
        .set("sasl.password", password())
        .set("ssl.ca.location", secure("_CA"))
        .set("ssl.certificate.location", secure("_CERT"))
        .set("ssl.key.location", secure("_KEY"));
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = client().create().unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in runtime().block_on(admin.create_topics(&[topic], &options)).unwrap() {
        r.unwrap();
    }
}

fn produce(topic: &str, ids: std::ops::Range<u64>) {
    let producer: FutureProducer = client().set("linger.ms", "10").create().unwrap();
    runtime().block_on(async {
        let sends = ids.map(tick).map(|(k, v)| {
            let producer = &producer;
            async move {
                producer
                    .send(FutureRecord::to(topic).key(&k).payload(&v), Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
        });
        futures::future::join_all(sends).await;
    });
}

/// Every value of a topic, read over the secured connection.
fn consume_all(topic: &str, partitions: i32) -> Vec<String> {
    let consumer: BaseConsumer = client()
        .set("group.id", unique("secure-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    consumer.assign(&list).unwrap();
    let (mut out, mut ended) = (Vec::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while ended < partitions && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()),
            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
    assert_eq!(ended, partitions, "did not reach the end of {topic}");
    out
}

/// A job reading `source` on the secured broker into a Delta table and a per-symbol count into topic `sink`.
fn job(dir: &Path, source: &str, sink: &str) -> String {
    let broker = secure("");
    let path = dir.join("secure.sql");
    std::fs::write(
        &path,
        format!(
            "CREATE EXTERNAL TABLE ticks (id BIGINT NOT NULL, symbol VARCHAR NOT NULL, price DOUBLE NOT NULL, ts TIMESTAMP)
             STORED AS KAFKA LOCATION 'kafka://{broker}/{source}' OPTIONS ('format' 'json', 'consumer' 'secure-test');
             CREATE EXTERNAL TABLE counts (symbol VARCHAR, n BIGINT) STORED AS KAFKA
             LOCATION 'kafka://{broker}/{sink}' OPTIONS ('format' 'json', 'key' 'symbol');
             INSERT INTO bronze.ticks SELECT * FROM ticks;
             INSERT INTO counts SELECT symbol, count(*) FROM ticks GROUP BY symbol;\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// `strata run` with only the given `STRATA_KAFKA_*` settings in its environment.
fn run(job: &str, warehouse: &Path, env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strata"));
    command
        .args(["run", job, "--no-progress", "--warehouse", warehouse.to_str().unwrap()])
        .current_dir(repo_root())
        .env_remove("STRATA_WAREHOUSE")
        .env_remove("STRATA_LEDGER");
    for (name, _) in
        std::env::vars().filter(|(n, _)| n.starts_with("STRATA_KAFKA_") && !n.starts_with("STRATA_KAFKA_SECURE"))
    {
        command.env_remove(name);
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command.output().unwrap()
}

/// The deployment's settings: SASL_SSL with `mechanism`, mutual TLS, the password from its file.
fn settings(mechanism: &str) -> Vec<(&'static str, String)> {
    vec![
        ("STRATA_KAFKA_SECURITY_PROTOCOL", "SASL_SSL".into()),
        ("STRATA_KAFKA_SASL_MECHANISM", mechanism.into()),
        ("STRATA_KAFKA_SASL_USERNAME", secure("_USER")),
        ("STRATA_KAFKA_SASL_PASSWORD_FILE", secure("_PASSWORD_FILE")),
        ("STRATA_KAFKA_SSL_CA_LOCATION", secure("_CA")),
        ("STRATA_KAFKA_SSL_CERTIFICATE_LOCATION", secure("_CERT")),
        ("STRATA_KAFKA_SSL_KEY_LOCATION", secure("_KEY")),
    ]
}

/// The per-symbol counts the sink topic holds, summed over its messages.
fn counted(messages: &[String]) -> u64 {
    messages
        .iter()
        .map(|m| {
            serde_json::from_str::<serde_json::Value>(m).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

#[test]
fn scram_logins_over_mutual_tls_read_and_write_a_secured_broker_exactly_once() {
    let root = tempfile::tempdir().unwrap();
    let wh = root.path().join("wh");
    let (source, sink) = (unique("secure-ticks"), unique("secure-counts"));
    create_topic(&source, 2);
    create_topic(&sink, 2);
    produce(&source, 0..300);
    let job = job(root.path(), &source, &sink);

    let out = run(&job, &wh, &settings("SCRAM-SHA-512"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(table(&wh, "bronze.ticks", &["id"])["columns"]["id"]["distinct"], 300);
    assert_eq!(counted(&consume_all(&sink, 2)), 300);

    // More ticks, and SCRAM-SHA-256 with the password given directly: only the new ticks are taken, by both sinks.
    produce(&source, 300..420);
    let mut direct = settings("SCRAM-SHA-256");
    direct.retain(|(k, _)| *k != "STRATA_KAFKA_SASL_PASSWORD_FILE");
    direct.push(("STRATA_KAFKA_SASL_PASSWORD", password()));
    let out = run(&job, &wh, &direct);
    assert!(out.status.success(), "{}", stderr(&out));
    let ticks = table(&wh, "bronze.ticks", &["id"]);
    assert_eq!(
        (ticks["rows"].as_u64(), ticks["columns"]["id"]["distinct"].as_u64()),
        (Some(420), Some(420))
    );
    assert_eq!(counted(&consume_all(&sink, 2)), 420);
    // The password appears nowhere the run reports.
    assert!(!stdout(&out).contains(&password()) && !stderr(&out).contains(&password()));
}

#[test]
fn a_wrong_password_an_untrusted_broker_or_no_client_certificate_fails_the_run_and_commits_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (source, sink) = (unique("secure-refused"), unique("secure-refused-out"));
    create_topic(&source, 1);
    create_topic(&sink, 1);
    produce(&source, 0..20);
    let job = job(root.path(), &source, &sink);
    let wrong = root.path().join("wrong-password");
    std::fs::write(&wrong, "not-the-password-4711\n").unwrap();

    let without = |names: &[&str]| {
        let mut s = settings("SCRAM-SHA-512");
        s.retain(|(k, _)| !names.contains(k));
        s
    };
    let mut wrong_password = without(&["STRATA_KAFKA_SASL_PASSWORD_FILE"]);
    wrong_password.push(("STRATA_KAFKA_SASL_PASSWORD_FILE", wrong.display().to_string()));
    let cases = [
        ("wrong password", wrong_password, "authentication"),
        (
            "no CA for the broker",
            without(&["STRATA_KAFKA_SSL_CA_LOCATION"]),
            "certificate verify failed",
        ),
        (
            "no client certificate",
            without(&["STRATA_KAFKA_SSL_CERTIFICATE_LOCATION", "STRATA_KAFKA_SSL_KEY_LOCATION"]),
            "ssl",
        ),
    ];
    for (case, env, expected) in cases {
        let wh = root.path().join(case.replace(' ', "-"));
        let started = Instant::now();
        let out = run(&job, &wh, &env);
        let err = stderr(&out);
        assert!(!out.status.success(), "{case}: the run succeeded");
        assert!(
            err.to_lowercase().contains(expected),
            "{case}: the error does not say {expected:?}:\n{err}"
        );
        assert!(
            err.contains(&secure("")),
            "{case}: the error does not name the broker:\n{err}"
        );
        assert!(
            !err.contains("not-the-password-4711") && !err.contains(&password()),
            "{case}: a password leaked"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{case}: took {:?}",
            started.elapsed()
        );
        assert_eq!(
            table(&wh, "bronze.ticks", &[])["rows"],
            0,
            "{case}: something was committed"
        );
    }
    assert!(consume_all(&sink, 1).is_empty());
}
