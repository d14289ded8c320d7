//! Metrics of the gRPC servers Strata runs (Flight SQL, and the scheduler's job service): calls by method and
//! status code, and the time until each call's response began, as a tower layer under tonic's server.
//!
//! The status is the one the response starts with: an error a call returns at once (a refused login, a bad
//! query) is counted as such; a stream that fails after its first message counts as `OK`. Methods outside the
//! served services are counted as `other`, so a client cannot grow the label set.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use metrics::{counter, histogram};
use strata_connectors::metrics as names;
use tonic::codegen::http;
use tower::{Layer, Service};

/// The gRPC services whose methods are labelled by name.
const SERVICES: &[&str] = &["arrow.flight.protocol.FlightService", "strata.v1.JobService"];

/// Meters every call of the service it wraps.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeteredLayer;

impl<S> Layer<S> for MeteredLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metered { inner }
    }
}

/// A service metered by [`MeteredLayer`].
#[derive(Debug, Clone)]
pub struct Metered<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for Metered<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method(request.uri().path());
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let result = call.await;
            let code = match &result {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map_or("OK", code_name),
                Err(_) => "TRANSPORT",
            };
            counter!(names::FLIGHT_REQUESTS, "method" => method, "code" => code).increment(1);
            histogram!(names::FLIGHT_DURATION, "method" => method).record(started.elapsed().as_secs_f64());
            result
        })
    }
}

/// A metered service keeps the name it is routed by (a job service added to the scheduler's own routes).
impl<S: tonic::server::NamedService> tonic::server::NamedService for Metered<S> {
    const NAME: &'static str = S::NAME;
}

/// The method of a gRPC path (`/package.Service/Method`), when its service is one Strata serves; else `other`.
fn method(path: &str) -> &'static str {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return "other";
    };
    if !SERVICES.contains(&service) {
        return "other";
    }
    KNOWN_METHODS.iter().find(|m| **m == method).copied().unwrap_or("other")
}

/// The methods of [`SERVICES`] (static strings: labels must not be built from what a client sends).
const KNOWN_METHODS: &[&str] = &[
    "Handshake",
    "ListFlights",
    "GetFlightInfo",
    "PollFlightInfo",
    "GetSchema",
    "DoGet",
    "DoPut",
    "DoExchange",
    "DoAction",
    "ListActions",
    "Submit",
    "Status",
    "Runs",
    "Health",
];

/// The name of a gRPC status code, as Prometheus labels usually carry it.
fn code_name(code: &str) -> &'static str {
    match code {
        "0" => "OK",
        "1" => "CANCELLED",
        "2" => "UNKNOWN",
        "3" => "INVALID_ARGUMENT",
        "4" => "DEADLINE_EXCEEDED",
        "5" => "NOT_FOUND",
        "6" => "ALREADY_EXISTS",
        "7" => "PERMISSION_DENIED",
        "8" => "RESOURCE_EXHAUSTED",
        "9" => "FAILED_PRECONDITION",
        "10" => "ABORTED",
        "11" => "OUT_OF_RANGE",
        "12" => "UNIMPLEMENTED",
        "13" => "INTERNAL",
        "14" => "UNAVAILABLE",
        "15" => "DATA_LOSS",
        "16" => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_of_other_services_and_unknown_methods_are_one_label() {
        assert_eq!(method("/arrow.flight.protocol.FlightService/DoGet"), "DoGet");
        assert_eq!(method("/strata.v1.JobService/Submit"), "Submit");
        assert_eq!(method("/arrow.flight.protocol.FlightService/Made-Up-1"), "other");
        assert_eq!(method("/evil.Service/DoGet"), "other");
        assert_eq!(method("/"), "other");
        assert_eq!(code_name("16"), "UNAUTHENTICATED");
    }
}
