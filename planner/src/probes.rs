//! The HTTP probes every long-running Strata process serves on `--http-bind` (the scheduler, executors,
//! `strata serve` and `strata schedule`), for Kubernetes and load balancers:
//!
//! - `GET /livez`: 200 while the process runs; it never depends on another service, so a flapping scheduler or
//!   object store never gets a healthy pod restarted.
//! - `GET /readyz`: 200 when the process can do its work, else 503 with the reason as text (never a secret:
//!   reasons name services and states, not credentials).
//! - `GET /metrics`: every metric the process recorded, in the Prometheus text format ([`crate::metrics`]). Open
//!   without a login, as scrapers expect: it holds counts and durations labelled with job files, tables, topics and
//!   stages, never rows, credentials or run ids.
//!
//! Readiness is a cheap synchronous check ([`Ready`]); anything slow (reaching the object store) runs in the
//! background ([`StoreProbe`]) and the check reads its last result.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::get;
use strata_connectors::location::Warehouse;

/// Whether the process is ready; the error is the reason it is not.
pub type Ready = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Bind `addr` and serve the probes in the background; returns the address bound (port 0 picks a free one).
pub async fn serve(addr: SocketAddr, ready: Ready) -> std::io::Result<SocketAddr> {
    serve_with(addr, ready, Router::new()).await
}

/// [`serve`], with more routes beside the probes (the web console of the scheduler and `strata serve`).
pub async fn serve_with(addr: SocketAddr, ready: Ready, more: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route("/livez", get(|| async { (StatusCode::OK, "alive\n") }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(ready)
        .merge(more);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the HTTP probe server stopped");
        }
    });
    tracing::info!(%bound, "HTTP probes (/livez, /readyz, /metrics) listening");
    Ok(bound)
}

async fn readyz(State(ready): State<Ready>) -> (StatusCode, String) {
    match ready() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
    }
}

async fn metrics() -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    let text_format = [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")];
    match crate::metrics::render() {
        Some(text) => (StatusCode::OK, text_format, text),
        None => (
            StatusCode::NOT_FOUND,
            text_format,
            "metrics are not recorded in this process\n".into(),
        ),
    }
}

/// Whether the warehouse's store answers, checked in the background: a listing of the warehouse root every
/// `every`. Not ready until the first answer.
#[derive(Clone)]
pub struct StoreProbe {
    last: Arc<Mutex<Result<(), String>>>,
}

impl StoreProbe {
    /// Start probing `warehouse` every `every`.
    pub fn start(warehouse: Warehouse, every: Duration) -> Self {
        let last = Arc::new(Mutex::new(Err("the warehouse has not been reached yet".to_string())));
        let probe = Self { last: last.clone() };
        tokio::spawn(async move {
            loop {
                let result = match strata_connectors::store::exists(warehouse.url()).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("the warehouse {warehouse} cannot be reached: {e}")),
                };
                if let Err(reason) = &result {
                    tracing::warn!(%reason, "readiness: warehouse unreachable");
                }
                if let Ok(mut guard) = last.lock() {
                    *guard = result;
                }
                tokio::time::sleep(every).await;
            }
        });
        probe
    }

    /// The last probe's outcome.
    pub fn state(&self) -> Result<(), String> {
        self.last
            .lock()
            .map_err(|_| "the warehouse probe failed".to_string())
            .and_then(|guard| guard.clone())
    }
}
