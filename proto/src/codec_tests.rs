//! Round trips of Strata's codecs: what crosses the wire comes back the same, and carries no secret.

use super::*;
use datafusion::arrow::datatypes::{DataType, Field};
use std::collections::HashMap;

#[test]
fn files_round_trip() {
    let files = sample_files();
    let mut buf = Vec::new();
    encode_files(&files, &mut buf).unwrap();
    let back = decode_files(buf.strip_prefix(MAGIC).unwrap()).unwrap();
    assert_eq!(back.table_url, files.table_url);
    assert_eq!(back.schema, files.schema);
    assert_eq!(back.files, files.files);
    assert_eq!(back.partition_columns, files.partition_columns);
}

#[test]
fn kafka_scans_round_trip() {
    let options = KafkaOptions::parse(&[
        ("format".to_string(), "csv".to_string()),
        ("kafka.client.id".to_string(), "t".to_string()),
    ])
    .unwrap();
    let scan = KafkaScan {
        address: TopicAddress::parse("kafka://127.0.0.1:9092/raw-stock-data").unwrap(),
        declared: sample_files().schema,
        options,
        ranges: vec![PartitionRange {
            partition: 3,
            start: 17,
            stop: Some(40),
            planned_high: 35,
        }],
        single_task: true,
    };
    let exec: Arc<dyn ExecutionPlan> = Arc::new(KafkaScanExec::new(scan.clone(), Some(vec![0, 4])).unwrap());
    let mut buf = Vec::new();
    StrataPhysicalCodec::default()
        .try_encode(
            exec.clone(),
            &mut buf,
            &datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {},
        )
        .unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let back = StrataPhysicalCodec::default()
        .try_decode(
            &buf,
            &[],
            &ctx.task_ctx(),
            &datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {},
        )
        .unwrap();
    let back = back.downcast_ref::<KafkaScanExec>().unwrap();
    assert_eq!(back.scan.address, scan.address);
    assert_eq!(back.scan.options, scan.options);
    assert_eq!(back.scan.ranges, scan.ranges);
    assert!(back.scan.single_task);
    assert_eq!(back.scan.declared, scan.declared);
    assert_eq!(back.projection, Some(vec![0, 4]));
    assert_eq!(back.schema(), exec.schema());
}

#[test]
fn postgres_scans_round_trip_without_secrets() {
    use strata_connectors::postgres::types::{PgColumn, PgType};
    use strata_connectors::postgres::{PgAddress, PgOptions};
    let options = PgOptions::parse(&[
        ("table".to_string(), "public.stock_prices".to_string()),
        ("password_file".to_string(), "/run/secrets/pg".to_string()),
    ])
    .unwrap();
    let columns = [
        ("id", PgType::Int8),
        (
            "price",
            PgType::Numeric {
                precision: 12,
                scale: 4,
                constrained: true,
            },
        ),
    ]
    .into_iter()
    .map(|(n, t)| PgColumn::new(n, t, true))
    .collect();
    let source = PgSource {
        address: PgAddress::parse("postgres://127.0.0.1:5432/market", None).unwrap(),
        options,
        columns,
        partition_column: Some("id".into()),
        single_task: true,
    };
    let range = Predicate {
        sql: vec!["\"id\" >= current_setting('strata.p1')::bigint".into()],
        params: vec!["100".into()],
    };
    let exec: Arc<dyn ExecutionPlan> = Arc::new(
        PgScanExec::new(
            source.clone(),
            Some(vec![1]),
            vec![Predicate::default(), range],
            Some(7),
        )
        .unwrap(),
    );
    let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
    let mut buf = Vec::new();
    StrataPhysicalCodec::default()
        .try_encode(exec.clone(), &mut buf, &converter)
        .unwrap();
    assert!(!String::from_utf8_lossy(&buf).contains("password\":\""));
    let ctx = datafusion::prelude::SessionContext::new();
    let back = StrataPhysicalCodec::default()
        .try_decode(&buf, &[], &ctx.task_ctx(), &converter)
        .unwrap();
    let back = back.downcast_ref::<PgScanExec>().unwrap();
    assert_eq!(back.source, source);
    assert_eq!(back.ranges.len(), 2);
    assert_eq!(back.limit, Some(7));
    assert_eq!(back.schema(), exec.schema());
    assert_eq!(back.properties().output_partitioning().partition_count(), 1);
}

#[tokio::test]
async fn metered_tables_and_scans_round_trip_with_their_reader() {
    let reader = Reader {
        job: "jobs/x.sql".into(),
        table: "bronze.prices".into(),
    };
    let table: Arc<dyn TableProvider> = Arc::new(MeteredTable::new(Arc::new(sample_files()), reader.clone()));
    let codec = StrataLogicalCodec::default();
    let reference = TableReference::from("bronze.prices");
    let mut buf = Vec::new();
    codec
        .try_encode_table_provider(&reference, table.clone(), &mut buf)
        .unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let back = codec
        .try_decode_table_provider(&buf, &reference, table.schema(), &ctx.task_ctx())
        .unwrap();
    let back = back.downcast_ref::<MeteredTable>().expect("a metered table");
    assert_eq!(back.reader, reader);
    let files = back.inner.downcast_ref::<DeltaFiles>().expect("the Delta files inside");
    assert_eq!(files.files, sample_files().files);

    // Its scan: the reader travels in the payload, the wrapped scan as the plan's child.
    let scan = table.scan(&ctx.state(), None, &[], None).await.unwrap();
    let metered = scan.downcast_ref::<MeteredScanExec>().expect("a metered scan");
    let converter = datafusion_proto::physical_plan::DefaultPhysicalProtoConverter {};
    let mut buf = Vec::new();
    StrataPhysicalCodec::default()
        .try_encode(scan.clone(), &mut buf, &converter)
        .unwrap();
    let back = StrataPhysicalCodec::default()
        .try_decode(&buf, &[metered.input().clone()], &ctx.task_ctx(), &converter)
        .unwrap();
    let back = back.downcast_ref::<MeteredScanExec>().expect("a metered scan");
    assert_eq!(back.reader(), &reader);
    assert_eq!(back.schema(), scan.schema());
    // A truncated payload is an error, not a panic.
    assert!(decode_reader(&[1, 0]).is_err());
    assert!(decode_reader(&[9, 0, 0, 0, b'{']).is_err());
}

fn sample_files() -> DeltaFiles {
    DeltaFiles {
        table_url: Url::parse("file:///tmp/wh/silver/daily/").unwrap(),
        schema: Arc::new(Schema::new(vec![
            Field::new("symbol", DataType::Utf8, false),
            Field::new("close", DataType::Float64, true),
            Field::new("year", DataType::Int32, true),
        ])),
        partition_columns: vec!["year".into()],
        files: vec![DataFile {
            path: "year=2020/part-0.parquet".into(),
            size: 42,
            partition_values: HashMap::from([("year".to_string(), Some("2020".to_string()))]),
            stats: Some(r#"{"numRecords":3}"#.into()),
        }],
    }
}

fn sample_target() -> WriteTarget {
    WriteTarget {
        table_url: Url::parse("file:///tmp/wh/gold/out/").unwrap(),
        table_schema: sample_files().schema,
        partition_columns: vec!["year".into()],
    }
}

/// A write over a pinned-file scan crosses the wire as a logical plan (client → scheduler) and as a physical
/// plan (scheduler → executor) and comes back the same.
#[tokio::test]
async fn write_over_pinned_files_round_trips_logical_and_physical() {
    use datafusion::datasource::provider_as_source;
    use datafusion::logical_expr::LogicalPlanBuilder;
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::*;

    let ctx = SessionContext::new();
    let scan = LogicalPlanBuilder::scan("daily", provider_as_source(Arc::new(sample_files())), None)
        .unwrap()
        .build()
        .unwrap();
    let plan = DeltaWriteNode::new(scan, sample_target()).unwrap().into_plan();
    let logical = StrataLogicalCodec::default();
    let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &logical).unwrap();
    let back = logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &logical).unwrap();
    assert_eq!(
        format!("{}", back.display_indent()),
        format!("{}", plan.display_indent())
    );

    let LogicalPlan::Extension(ext) = &back else {
        panic!("not an extension: {back}")
    };
    let write = ext.node.as_any().downcast_ref::<DeltaWriteNode>().unwrap();
    assert_eq!(write.target, sample_target());

    let physical = ctx.state().create_physical_plan(&write.input).await.unwrap();
    let exec: Arc<dyn ExecutionPlan> = Arc::new(DeltaWriteExec::new(physical, sample_target()));
    let codec = StrataPhysicalCodec::default();
    let bytes = physical_plan_to_bytes_with_extension_codec(exec.clone(), &codec).unwrap();
    let decoded = physical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec).unwrap();
    let decoded_write = decoded.downcast_ref::<DeltaWriteExec>().expect("a DeltaWriteExec");
    assert_eq!(decoded_write.target(), &sample_target());
    let shown = |p: &Arc<dyn ExecutionPlan>| {
        datafusion::physical_plan::displayable(p.as_ref())
            .indent(true)
            .to_string()
    };
    assert_eq!(shown(&decoded), shown(&exec));
    assert!(
        shown(&decoded).contains("year=2020/part-0.parquet"),
        "{}",
        shown(&decoded)
    );
}

#[test]
fn foreign_table_is_refused_with_its_name() {
    let codec = StrataLogicalCodec::default();
    let table = Arc::new(datafusion::datasource::empty::EmptyTable::new(
        Arc::new(Schema::empty()),
    ));
    let err = codec
        .try_encode_table_provider(&TableReference::bare("mystery"), table, &mut Vec::new())
        .unwrap_err();
    assert!(err.to_string().contains("mystery"), "{err}");
}
