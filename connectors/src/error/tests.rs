//! The texts users see: they name the place (topic, table, server, option), keep the wrapped error as a source,
//! and hold no secret.

use std::error::Error as _;

use super::*;

#[test]
fn strata_side_conditions_name_their_context() {
    let option = ConnectorError::KafkaOption {
        option: "csv.delimiter".into(),
        value: ";;".into(),
        expected: "one character",
    };
    assert_eq!(
        option.to_string(),
        "Kafka option 'csv.delimiter': ';;' is not one character"
    );
    let missing = ConnectorError::KafkaNoTopic {
        topic: "ticks".into(),
        brokers: "127.0.0.1:9092".into(),
    };
    assert_eq!(
        missing.to_string(),
        "Kafka topic 'ticks' at 127.0.0.1:9092: the topic does not exist"
    );
    let pg = ConnectorError::PostgresOption {
        option: "partitions".into(),
        value: "0".into(),
        expected: "a positive integer",
    };
    assert_eq!(
        pg.to_string(),
        "PostgreSQL options: partitions must be a positive integer, not '0'"
    );
    let mapping = ConnectorError::PostgresType {
        problem: TypeMapping::Unsupported {
            sql_type: "point".into(),
        },
    };
    assert!(
        mapping
            .to_string()
            .starts_with("PostgreSQL type mapping: type point is not supported")
    );
}

#[test]
fn wrapped_errors_stay_sources() {
    let rows = ConnectorError::PostgresWriteRows {
        table: "daily".into(),
        server: "postgres://h:5432/db".into(),
        source: Box::new(ConnectorError::PostgresCopyColumns { given: 2, expected: 3 }),
    };
    assert_eq!(
        rows.to_string(),
        "PostgreSQL table 'daily' at postgres://h:5432/db: PostgreSQL COPY encode: 2 columns to write, the table \
         takes 3 (nothing was committed)"
    );
    assert!(
        rows.source()
            .is_some_and(|s| s.to_string().contains("2 columns to write"))
    );
    let kafka = ConnectorError::Kafka {
        topic: "ticks".into(),
        brokers: "b:9092".into(),
        partition: Some(3),
        broker_said: None,
        source: Box::new(rdkafka::error::KafkaError::Canceled),
    };
    assert_eq!(
        kafka.to_string(),
        "Kafka topic 'ticks' at b:9092, partition 3: KafkaError (Client dropped)"
    );
    assert!(kafka.source().is_some());
    let refused = ConnectorError::Kafka {
        topic: "ticks".into(),
        brokers: "b:9093".into(),
        partition: None,
        broker_said: Some("SASL authentication error: SASL SCRAM authentication failed".into()),
        source: Box::new(rdkafka::error::KafkaError::Canceled),
    };
    assert_eq!(
        refused.to_string(),
        "Kafka topic 'ticks' at b:9093: KafkaError (Client dropped); the connection failed: SASL authentication \
         error: SASL SCRAM authentication failed"
    );
}

#[test]
fn a_password_option_keeps_no_value() {
    let e = ConnectorError::PostgresPasswordOption;
    assert!(e.to_string().contains("passwords do not belong in job files"));
    assert_eq!(format!("{e:?}"), "PostgresPasswordOption");
}
