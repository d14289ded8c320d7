//! Flight SQL load: N concurrent clients, each logging in, running one statement and pulling every row with
//! `DoGet`, measured from the first connect to the last batch. Prints one JSON object: clients, rows, bytes on the
//! wire (Flight data headers and bodies), errors, wall time, rows/s, MB/s and each client's time.
//!
//!     flight_load HOST:PORT CLIENTS SQL [--user U] [--tls-ca PEM]   (password from STRATA_FLIGHT_PASSWORD)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::flight_service_client::FlightServiceClient;
use futures::{StreamExt, TryStreamExt};
use strata_flight::client::{self, ClientOptions};

/// What one client pulled.
struct Pulled {
    rows: u64,
    seconds: f64,
}

async fn one(options: ClientOptions, sql: String, bytes: Arc<AtomicU64>) -> Result<Pulled, String> {
    let started = Instant::now();
    let channel = client::channel(&options).await.map_err(|e| e.to_string())?;
    let mut sql_client = client::login(channel.clone(), &options)
        .await
        .map_err(|e| e.to_string())?;
    let token = sql_client.token().cloned();
    let info = sql_client.execute(sql, None).await.map_err(|e| e.to_string())?;
    let mut raw = FlightServiceClient::new(channel);
    let mut rows = 0;
    for endpoint in info.endpoint {
        let Some(ticket) = endpoint.ticket else { continue };
        let mut request = tonic::Request::new(ticket);
        if let Some(token) = &token {
            let value = format!("Bearer {token}").parse().map_err(|e| format!("{e}"))?;
            request.metadata_mut().insert("authorization", value);
        }
        let stream = raw.do_get(request).await.map_err(|e| e.to_string())?.into_inner();
        let counted = bytes.clone();
        let data = stream
            .map_ok(move |d| {
                counted.fetch_add((d.data_header.len() + d.data_body.len()) as u64, Ordering::Relaxed);
                d
            })
            .map_err(arrow_flight::error::FlightError::from);
        let mut batches = FlightRecordBatchStream::new_from_flight_data(data);
        while let Some(batch) = batches.next().await {
            rows += batch.map_err(|e| e.to_string())?.num_rows() as u64;
        }
    }
    Ok(Pulled {
        rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: flight_load HOST:PORT CLIENTS SQL [--user U] [--tls-ca PEM]");
        std::process::exit(2);
    }
    let clients: usize = match args[2].parse() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("CLIENTS must be a positive number, not {}", args[2]);
            std::process::exit(2);
        }
    };
    let options = ClientOptions {
        server: args[1].clone(),
        tls_ca: arg(&args, "--tls-ca").map(Into::into),
        credentials: arg(&args, "--user").map(|u| (u, std::env::var("STRATA_FLIGHT_PASSWORD").unwrap_or_default())),
        identity: None,
    };
    let bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(one(options.clone(), args[3].clone(), bytes.clone())))
        .collect();
    let mut rows = 0;
    let mut errors = Vec::new();
    let mut times = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(p)) => {
                rows += p.rows;
                times.push(p.seconds);
            }
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let bytes = bytes.load(Ordering::Relaxed);
    let summary = serde_json::json!({
        "clients": clients,
        "rows": rows,
        "rows_per_client": if times.is_empty() { 0 } else { rows / times.len() as u64 },
        "wire_bytes": bytes,
        "errors": errors.len(),
        "first_errors": errors.iter().take(3).collect::<Vec<_>>(),
        "wall_seconds": wall,
        "rows_per_second": rows as f64 / wall,
        "mb_per_second": bytes as f64 / 1e6 / wall,
        "client_seconds_min": times.first(),
        "client_seconds_median": times.get(times.len() / 2),
        "client_seconds_max": times.last(),
    });
    println!("{summary}");
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
