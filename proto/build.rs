//! Generates the `JobService` client and server from the Rust message types in `src/job.rs` (tonic's manual
//! builder: no `protoc` needed on the build machine).

fn main() {
    let method = |name: &str, route: &str, input: &str, output: &str| {
        tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type(format!("crate::job::{input}"))
            .output_type(format!("crate::job::{output}"))
            .codec_path("tonic_prost::ProstCodec")
            .build()
    };
    let service = tonic_build::manual::Service::builder()
        .name("JobService")
        .package("strata.v1")
        .comment("Submit Strata job files to a scheduler and follow their runs.")
        .method(method("submit", "Submit", "SubmitRequest", "SubmitResponse"))
        .method(method("status", "Status", "StatusRequest", "RunInfo"))
        .method(method("runs", "Runs", "RunsRequest", "RunsResponse"))
        .method(method("health", "Health", "HealthRequest", "HealthResponse"))
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
    println!("cargo:rerun-if-changed=build.rs");
}
