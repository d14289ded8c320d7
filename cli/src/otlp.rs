//! OpenTelemetry traces over OTLP, when asked for (`--otlp-endpoint URL` or `STRATA_OTLP_ENDPOINT`): every run is a
//! `run` span (job, run id, engine, mode) and each of its stages a `stage` span under it (stage, kind), exported in
//! batches over OTLP/HTTP (protobuf) to `URL/v1/traces` — a collector, Jaeger, Tempo. Without the option nothing
//! is exported and nothing is set up. Spans carry names of jobs, stages and tables, never rows or credentials.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The traces path of an OTLP/HTTP endpoint given as its base URL (or already as the path).
pub fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{endpoint}/v1/traces")
    }
}

/// The tracer provider exporting to `endpoint`, and the `tracing` layer that feeds it. The provider must be shut
/// down before the process exits, or the last batch is lost.
pub fn layer<S>(
    endpoint: &str,
) -> Result<
    (
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        SdkTracerProvider,
    ),
    String,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .build()
        .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("strata").build())
        .build();
    let tracer = provider.tracer("strata");
    Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_base_url_gets_the_traces_path_once() {
        assert_eq!(super::traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(super::traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(super::traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
    }
}
