//! End to end: a real server on a loopback port over a small warehouse, driven by arrow-flight's own Flight SQL
//! client — authentication, metadata, queries with Strata's functions, prepared statements with parameters,
//! read-only refusals, and tickets that cannot be forged, replayed or redeemed by another user.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arrow_flight::error::FlightError as ArrowFlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables, ProstMessageExt, SqlInfo, TicketStatementQuery};
use arrow_flight::{FlightInfo, Ticket};
use datafusion::arrow::array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::TryStreamExt;
use prost::Message;
use strata_connectors::delta::{self, WriteMode};
use tonic::transport::{Channel, Endpoint};

use crate::auth::password_line;
use crate::options::FlightOptions;
use crate::server::bind;

type Client = FlightSqlServiceClient<Channel>;

async fn write_table(warehouse: &Path, name: &str, batch: RecordBatch) {
    let url = strata_connectors::location::warehouse_table(
        name,
        &strata_connectors::location::Warehouse::local(warehouse).unwrap(),
    )
    .unwrap();
    delta::write(&url, batch.schema(), vec![batch], &[], WriteMode::Overwrite)
        .await
        .unwrap();
}

fn prices() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("day", DataType::Int64, false),
        Field::new("close", DataType::Float64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["AAAA", "AAAA", "AAAA", "BBBB", "BBBB"])),
            Arc::new(Int64Array::from(vec![1, 2, 3, 1, 2])),
            Arc::new(Float64Array::from(vec![10.0, 11.0, 12.0, 20.0, 22.0])),
        ],
    )
    .unwrap()
}

/// A warehouse with `gold.prices`, a ledger-shaped `_strata.runs` and a directory that is not a Delta table;
/// a server over it with users alice and bob.
async fn start() -> (tempfile::TempDir, SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse");
    write_table(&warehouse, "gold.prices", prices()).await;
    let run = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("run_id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["r1"]))],
    )
    .unwrap();
    write_table(&warehouse, "_strata.runs", run).await;
    std::fs::create_dir_all(warehouse.join("raw/files")).unwrap();
    let users = dir.path().join("users");
    std::fs::write(
        &users,
        format!(
            "{}\n{}\n",
            password_line("alice", "secret"),
            password_line("bob", "hunter2")
        ),
    )
    .unwrap();
    let options = FlightOptions::new(
        "127.0.0.1:0".parse().unwrap(),
        strata_connectors::location::Warehouse::local(&warehouse).unwrap(),
    )
    .with_users_file(users);
    let (addr, server) = bind(options).await.unwrap();
    tokio::spawn(server);
    (dir, addr)
}

async fn client(addr: SocketAddr) -> Client {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

async fn login(addr: SocketAddr, user: &str, password: &str) -> Client {
    let mut c = client(addr).await;
    c.handshake(user, password).await.unwrap();
    assert!(c.token().is_some(), "the handshake answered no bearer token");
    c
}

async fn fetch(c: &mut Client, info: FlightInfo) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.unwrap();
        let stream = c.do_get(ticket).await.unwrap();
        batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    batches
}

fn strings(batches: &[RecordBatch], column: usize) -> Vec<String> {
    let mut out = Vec::new();
    for batch in batches {
        let array = batch.column(column).as_any().downcast_ref::<StringArray>().unwrap();
        out.extend((0..array.len()).map(|i| array.value(i).to_string()));
    }
    out
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn message(e: ArrowFlightError) -> String {
    match e {
        ArrowFlightError::Tonic(status) => format!("{:?}: {}", status.code(), status.message()),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_queries_and_prepared_statements() {
    let (_dir, addr) = start().await;
    let mut c = login(addr, "alice", "secret").await;

    let info = c.get_catalogs().await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await, 0), ["strata"]);
    let info = c.get_db_schemas(CommandGetDbSchemas::default()).await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await, 1), ["_strata", "gold"]);
    let request = CommandGetTables {
        include_schema: true,
        ..Default::default()
    };
    let info = c.get_tables(request).await.unwrap();
    let tables = fetch(&mut c, info).await;
    assert_eq!(strings(&tables, 2), ["runs", "prices"]);
    assert_eq!(strings(&tables, 3), ["SYSTEM TABLE", "TABLE"]);
    assert_eq!(
        tables[0].num_columns(),
        5,
        "include_schema adds the table_schema column"
    );
    let info = c.get_table_types().await.unwrap();
    assert_eq!(strings(&fetch(&mut c, info).await, 0), ["SYSTEM TABLE", "TABLE"]);
    let info = c.get_sql_info(vec![SqlInfo::FlightSqlServerReadOnly]).await.unwrap();
    assert_eq!(rows(&fetch(&mut c, info).await), 1);

    // A query with one of Strata's window functions.
    let sql = "SELECT symbol, day, sma(close, 2) OVER (PARTITION BY symbol ORDER BY day) AS sma_2 \
               FROM gold.prices ORDER BY symbol, day";
    let info = c.execute(sql.to_string(), None).await.unwrap();
    let batches = fetch(&mut c, info).await;
    assert_eq!(rows(&batches), 5);
    assert_eq!(batches[0].schema().field(0).data_type(), &DataType::Utf8);
    let ledger = c.execute("SELECT run_id FROM _strata.runs".into(), None).await.unwrap();
    assert_eq!(strings(&fetch(&mut c, ledger).await, 0), ["r1"]);

    // A prepared statement, bound twice.
    let mut statement = c
        .prepare(
            "SELECT day, close FROM gold.prices WHERE symbol = ? ORDER BY day".into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(statement.parameter_schema().unwrap().fields().len(), 1);
    assert_eq!(statement.dataset_schema().unwrap().fields().len(), 2);
    let param = |s: &str| {
        let schema = Arc::new(Schema::new(vec![Field::new("$1", DataType::Utf8, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![s.to_string()]))]).unwrap()
    };
    statement.set_parameters(param("AAAA")).unwrap();
    let info = statement.execute().await.unwrap();
    assert_eq!(rows(&fetch(&mut c, info).await), 3);
    statement.set_parameters(param("BBBB")).unwrap();
    let info = statement.execute().await.unwrap();
    assert_eq!(rows(&fetch(&mut c, info).await), 2);
    statement.close().await.unwrap();

    // A parameterized query that was not prepared is refused with a hint.
    let err = c
        .execute("SELECT * FROM gold.prices WHERE symbol = ?".into(), None)
        .await
        .unwrap_err();
    assert!(message(err).contains("prepare it"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused() {
    let (dir, addr) = start().await;
    let mut c = login(addr, "alice", "secret").await;
    let target = dir.path().join("copied.csv");
    for sql in [
        format!("COPY (SELECT 1) TO '{}'", target.display()),
        "CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/hostname'".to_string(),
        "CREATE TABLE gold.copy AS SELECT * FROM gold.prices".to_string(),
        "INSERT INTO gold.prices SELECT * FROM gold.prices".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
    ] {
        let err = message(c.execute(sql.clone(), None).await.unwrap_err());
        assert!(
            err.starts_with("PermissionDenied") && err.contains("read-only"),
            "{sql}: {err}"
        );
        let err = c.prepare(sql.clone(), None).await.unwrap_err();
        assert!(message(err).contains("read-only"), "{sql}");
    }
    let err = c
        .execute_update("DELETE FROM gold.prices".into(), None)
        .await
        .unwrap_err();
    assert!(message(err).contains("read-only"));
    assert!(!target.exists());
    assert!(!dir.path().join("warehouse/gold/copy").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_and_tokens() {
    let (_dir, addr) = start().await;

    let mut anonymous = client(addr).await;
    let err = message(anonymous.execute("SELECT 1".into(), None).await.unwrap_err());
    assert!(err.starts_with("Unauthenticated"), "{err}");
    let err = anonymous.handshake("alice", "wrong").await.unwrap_err();
    assert!(message(err).contains("invalid user name or password"));
    anonymous.set_token("f".repeat(64));
    let err = message(anonymous.execute("SELECT 1".into(), None).await.unwrap_err());
    assert!(err.contains("invalid or expired bearer token"), "{err}");

    let mut alice = login(addr, "alice", "secret").await;
    let mut bob = login(addr, "bob", "hunter2").await;
    let info = alice.execute("SELECT 42 AS answer".into(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();

    let err = message(bob.do_get(ticket.clone()).await.unwrap_err());
    assert!(
        err.starts_with("PermissionDenied") && err.contains("another user"),
        "{err}"
    );
    let forged = TicketStatementQuery {
        statement_handle: "0".repeat(32).into(),
    };
    let forged = Ticket::new(forged.as_any().encode_to_vec());
    let err = message(alice.do_get(forged).await.unwrap_err());
    assert!(err.starts_with("NotFound"), "{err}");

    let batches: Vec<RecordBatch> = alice.do_get(ticket.clone()).await.unwrap().try_collect().await.unwrap();
    assert_eq!(rows(&batches), 1);
    let err = message(alice.do_get(ticket).await.unwrap_err());
    assert!(err.starts_with("NotFound"), "a ticket is single-use: {err}");
}
